"""A simulated enterprise over months, with injected insiders: the monitor's test bench.

:class:`Simulation` builds, from a :class:`~leakwarden.monitor.scenario.Scenario` and a seed,

* the context tables of :mod:`leakwarden.monitor.events` (employees in departments, roles,
  regions, with managers, hire and leaving dates; customers in districts and segments, some VIP,
  some also employees; standing relationships: courier routes, account managers; work tickets);
* the audit events, as time-ordered :data:`~leakwarden.monitor.events.EVENT_SCHEMA` batches, one
  generation slice (``world.slice_minutes``) at a time, each column drawn with NumPy for the whole
  slice at once, so a day of ~100M events streams through without being held at once;
* the ground truth: one row per injected insider (family, start and end day, intensity) and a
  per-event ``malicious`` flag beside each batch.

Legitimate behaviour: tickets drive most accesses (a ticket's customer read a few times over the
ticket's life), couriers and account managers read their own customers without tickets, a few
unexplained look-ups per day, analysts' aggregate SQL over many customers, approved exports,
nightly batch jobs of service accounts, night shifts, weekends and holidays, absences, new hires
(active from their hire date), benign leavers (the HR signal without any taking) and transfers
(the history under the old department, the employees table showing the new one).

Insiders keep doing their normal work and add the malicious events of their family (see
``scenarios/default.toml``). Adaptive variants state one of their own real tickets on every
malicious access, keep to working hours and their usual channel and dataset, and stay under a
cap on their daily volume.

Everything is a function of (scenario, seed): every slice and every insider-day draws from its
own ``SeedSequence([seed, stream, day, slice])``, so the output does not depend on how it is read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from leakwarden.monitor.events import (
    CUSTOMER_SCHEMA,
    EMPLOYEE_SCHEMA,
    EVENT_SCHEMA,
    RELATIONSHIP_SCHEMA,
    TICKET_SCHEMA,
    Context,
)
from leakwarden.monitor.scenario import CHANNELS, Department, Family, Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = dt.date(1970, 1, 1)
ACTIONS = ("gateway.read", "gateway.print_waybill", "gateway.query", "gateway.export", "batch.run")
OUTCOMES = ("allowed", "denied")
SEGMENTS = ("consumer", "smb", "enterprise")
# Streams of the seed sequence (one per kind of draw, so adding draws to one leaves the rest).
_WORLD, _TICKETS, _EVENTS, _INSIDER_PLAN, _INSIDER_DAY, _ABSENCE = range(6)

# Hourly activity of the two shifts (relative weights; each row is normalised to sum 1).
_DAY_SHIFT = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0.2, 0.8, 1, 1, 1, 0.6, 0.9, 1, 1, 1, 0.8, 0.4, 0.15, 0.08, 0.04, 0, 0],
    dtype=np.float64,
)
_NIGHT_SHIFT = np.array(
    [1, 1, 0.9, 0.8, 0.8, 0.6, 0.3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.8, 1],
    dtype=np.float64,
)
SHIFTS = np.stack([_DAY_SHIFT / _DAY_SHIFT.sum(), _NIGHT_SHIFT / _NIGHT_SHIFT.sum()])
WORK_HOURS = (9.0, 18.0)  # malicious daytime activity is spread over these hours


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _choose(rng: np.random.Generator, weights: dict[str, float], n: int) -> list[str]:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return [keys[i] for i in rng.choice(len(keys), size=n, p=p / p.sum())]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> F64:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def date32(days: I64 | npt.NDArray[np.int32], mask: B | None = None) -> pa.Array:
    """int days since 1970-01-01 as an Arrow date32 array (nulls where ``mask``)."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=mask).view(pa.date32())


def _ts_array(us: I64, mask: B | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.int64(), mask=mask).view(
        EVENT_SCHEMA.field("ts").type
    )


def _prefixed(prefix: str, ids: I64) -> pa.Array:
    """``prefix`` + decimal id, null where the id is negative (Arrow kernels, no Python loop)."""
    arr = pa.array(ids, type=pa.int64(), mask=ids < 0)
    return pc.binary_join_element_wise(prefix, pc.cast(arr, pa.string()), "")


# --------------------------------------------------------------------------- event chunks


@dataclass
class _Chunk:
    """Events not yet in time order: numeric codes, turned into strings only when emitted."""

    ts: I64
    actor: I64
    action: I64
    outcome: I64
    channel: I64
    purpose: I64  # -1: none stated
    dataset: I64
    ip: I64
    rows: I64
    customers: I64
    ids: pa.LargeListArray
    ticket: I64  # -1: none
    export: I64  # -1: none
    malicious: B

    _NUMERIC = (
        *("ts", "actor", "action", "outcome", "channel", "purpose", "dataset", "ip"),
        *("rows", "customers", "ticket", "export", "malicious"),
    )

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: I64) -> _Chunk:
        kw: dict[str, Any] = {k: getattr(self, k)[idx] for k in self._NUMERIC}
        return _Chunk(ids=self.ids.take(pa.array(idx, type=pa.int64())), **kw)

    @staticmethod
    def concat(chunks: list[_Chunk]) -> _Chunk:
        chunks = [c for c in chunks if len(c)] or chunks[:1]
        kw: dict[str, Any] = {
            k: np.concatenate([getattr(c, k) for c in chunks]) for k in _Chunk._NUMERIC
        }
        ids = pa.concat_arrays([c.ids for c in chunks])
        return _Chunk(ids=ids, **kw)


def _id_lists(values: I64, lengths: I64) -> pa.LargeListArray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeListArray.from_arrays(
        pa.array(offsets, type=pa.int64()), pa.array(values, type=pa.int64())
    )


def _chunk(
    *,
    ts: I64,
    actor: I64,
    action: I64 | int,
    channel: I64 | int,
    purpose: I64 | int,
    dataset: I64 | int,
    ip: I64,
    rows: I64,
    customers: I64,
    ids: pa.LargeListArray,
    ticket: I64 | int = -1,
    export: I64 | int = -1,
    outcome: I64 | int = 0,
    malicious: bool = False,
) -> _Chunk:
    n = len(ts)

    def full(v: I64 | int) -> I64:
        return np.full(n, v, dtype=np.int64) if np.isscalar(v) else np.asarray(v, np.int64)

    return _Chunk(
        ts=np.asarray(ts, np.int64),
        actor=full(actor),
        action=full(action),
        outcome=full(outcome),
        channel=full(channel),
        purpose=full(purpose),
        dataset=full(dataset),
        ip=full(ip),
        rows=full(rows),
        customers=full(customers),
        ids=ids,
        ticket=full(ticket),
        export=full(export),
        malicious=np.full(n, malicious, dtype=np.bool_),
    )


# --------------------------------------------------------------------------- public results


@dataclass(frozen=True)
class SimBatch:
    """One slice of time-ordered events and, row for row, whether each is malicious."""

    events: pa.RecordBatch
    malicious: B


@dataclass
class SimRun:
    """A whole simulation in memory: events, per-event truth, context, insiders."""

    events: pa.Table
    malicious: B
    context: Context
    insiders: pa.Table
    scenario: Scenario
    seed: int


INSIDER_SCHEMA = pa.schema(
    [
        pa.field("actor", pa.string(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("adaptive", pa.bool_(), nullable=False),
        pa.field("base", pa.string()),
        pa.field("department", pa.string(), nullable=False),
        pa.field("start_day", pa.date32(), nullable=False),
        pa.field("end_day", pa.date32(), nullable=False),  # last day with malicious events
        pa.field("intensity", pa.float64(), nullable=False),  # see _Insider.intensity
        pa.field("detail", pa.string(), nullable=False),
    ]
)


@dataclass
class _Insider:
    employee: int
    family: Family
    start: int  # day index
    days: list[int]  # day indexes with malicious activity
    # bulk: total customers; slow_and_low: extra share of the own baseline; others: customers/day
    intensity: float
    detail: str = ""
    per_day: dict[int, int] = field(default_factory=dict)  # planned customers per day
    pool: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # snooping targets
    channel: str = "api"
    dataset: str = ""
    requests: int = 1  # bulk: requests of the pull
    chunk: int = 0  # adaptive bulk: customers per request
    last_ticket: tuple[int, int] | None = None  # (ticket id, opened us)


# --------------------------------------------------------------------------- the simulation


class Simulation:
    """The simulated enterprise of ``scenario`` drawn from ``seed`` (default: the scenario's)."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.w = scenario.world
        self.seed = self.w.seed if seed is None else seed
        self.depts: tuple[Department, ...] = scenario.departments
        self._day_tickets: dict[int, dict[str, I64]] = {}
        self._active_memo: tuple[int, tuple[B, I64, F64]] | None = None
        self._seq = 0
        self._keep_tickets = True
        self._build_world()
        self._plan_insiders()

    # ---------------------------------------------------------------- world

    def _build_world(self) -> None:
        w, rng = self.w, _rng(self.seed, _WORLD)
        n, nd = w.employees, len(self.depts)
        shares = np.array([d.share for d in self.depts])
        dept = rng.choice(nd, size=n, p=shares / shares.sum())
        self.n_humans = n
        # Customers: ids 1..N in contiguous blocks per region and per district.
        N, R = w.customers, w.regions
        D = R * w.districts_per_region
        self.n_customers, self.n_districts = N, D
        self.district_start = (np.arange(D + 1, dtype=np.int64) * N) // D + 1  # ids [s_k, s_k+1)
        self.region_start = self.district_start[:: w.districts_per_region]
        seg = rng.choice(3, size=N, p=[0.85, 0.12, 0.03])
        vip = rng.random(N) < w.vip_share
        self.vip_ids = np.flatnonzero(vip).astype(np.int64) + 1
        cust_ids = np.arange(1, N + 1, dtype=np.int64)
        cust_district = (np.arange(N, dtype=np.int64) * D) // N
        district_names = pa.array(
            [f"R{k // w.districts_per_region:02d}-D{k:03d}" for k in range(D)]
        )
        self.customers = pa.table(
            {
                "customer_id": cust_ids,
                "district": district_names.take(pa.array(cust_district)),
                "segment": pa.array(SEGMENTS).take(pa.array(seg)),
                "vip": vip,
            },
            schema=CUSTOMER_SCHEMA,
        )
        # Employees.
        home = rng.integers(0, D, size=n)
        region = home // w.districts_per_region
        roles = np.empty(n, dtype=object)
        mult = np.exp(rng.normal(-(w.activity_sigma**2) / 2, w.activity_sigma, n))
        night = np.zeros(n, dtype=np.int64)
        for k, d in enumerate(self.depts):
            idx = np.flatnonzero(dept == k)
            names = _choose(rng, d.roles, len(idx))
            roles[idx] = names
            mult[idx] *= np.array([d.role_rate.get(r, 1.0) for r in names])
            night[idx] = rng.random(len(idx)) < d.night_shift_share
        start_ord = (w.start - EPOCH).days
        self.start_ord = start_ord
        hired = start_ord - rng.integers(30, 3000, size=n)
        new = rng.random(n) < w.new_hire_share
        hired[new] = start_ord + rng.integers(1, max(2, w.days - 7), size=new.sum())
        leave = np.full(n, -1, dtype=np.int64)  # day index of the leaving date, -1: none
        leavers = (rng.random(n) < w.leaver_share) & ~new
        leave[leavers] = rng.integers(w.warmup_days, w.days + 30, size=leavers.sum())
        transfer = np.full(n, 10**6, dtype=np.int64)  # day index from which the new department
        movers = (rng.random(n) < w.transfer_share) & ~new & ~leavers
        transfer[movers] = rng.integers(
            max(1, w.warmup_days // 2), max(2, w.days - 7), movers.sum()
        )
        old_dept = dept.copy()
        old_dept[movers] = (dept[movers] + rng.integers(1, max(2, nd), movers.sum())) % nd
        own_customer = np.where(
            rng.random(n) < w.employee_customer_share,
            self.district_start[home]
            + rng.integers(0, 10**9, n) % np.diff(self.district_start)[home],
            -1,
        )
        self.coworker_ids = own_customer[own_customer > 0]
        # Managers: the first team lead (else the first employee) of the same department and region.
        manager = np.full(n, -1, dtype=np.int64)
        for k in range(nd):
            for r in range(R):
                idx = np.flatnonzero((dept == k) & (region == r))
                if not len(idx):
                    continue
                leads = [i for i in idx if roles[i] in ("team_lead", "dispatcher", "sre")]
                boss = leads[0] if leads else idx[0]
                manager[idx] = boss
                manager[boss] = -1
        S = w.service_accounts
        names = [f"E{i:06d}" for i in range(n)] + [f"svc-batch-{i:02d}" for i in range(S)]
        self.actor_names = pa.array(names, type=pa.string())
        dept_names = [d.name for d in self.depts]
        self.employees = pa.table(
            {
                "employee_id": self.actor_names,
                "department": [dept_names[k] for k in dept] + ["applications"] * S,
                "role": list(roles) + ["service_account"] * S,
                "region": [f"R{r:02d}" for r in region] + [None] * S,
                "manager": [names[m] if m >= 0 else None for m in manager] + [None] * S,
                "hired": date32(np.concatenate([hired, np.full(S, start_ord - 1000)])),
                "leaving": date32(
                    np.concatenate([np.where(leave >= 0, start_ord + leave, 0), np.zeros(S)]),
                    mask=np.concatenate([leave < 0, np.ones(S, dtype=np.bool_)]),
                ),
                "home_district": pa.concat_arrays(
                    [district_names.take(pa.array(home)), pa.nulls(S, pa.string())]
                ),
                "customer_id": pa.array(
                    np.concatenate([own_customer, np.full(S, -1)]),
                    type=pa.int64(),
                    mask=np.concatenate([own_customer < 0, np.ones(S, dtype=np.bool_)]),
                ),
            },
            schema=EMPLOYEE_SCHEMA,
        )
        self.dept, self.old_dept, self.transfer = dept, old_dept, transfer
        self.region, self.home, self.mult, self.night = region, home, mult, night
        self.hired_day = hired - start_ord  # day index (negative: before the window)
        self.leave_day = leave
        self.roles = roles
        ips = [f"10.{r}.{i // 250 % 250}.{i % 250 + 1}" for i, r in enumerate(region)]
        ips += [f"10.200.0.{i + 1}" for i in range(S)]
        self.vpn_base = len(ips)
        ips += [f"172.16.{i // 250}.{i % 250 + 1}" for i in range(500)]  # remote-access pool
        self.ips = pa.array(ips, type=pa.string())
        self._relationships(rng)
        # Code tables for the string columns.
        datasets: list[str] = []
        for d in self.depts:
            datasets += [x for x in d.datasets if x not in datasets]
        for f in self.scenario.families:
            datasets += [x for x in f.foreign_datasets if x not in datasets]
        if "billing/invoices" not in datasets:
            datasets.append("billing/invoices")
        self.dataset_names = datasets
        self.purpose_names = [d.purpose for d in self.depts] + ["billing_run"]
        self.dept_channel_cum = self._cum([d.channels for d in self.depts], list(CHANNELS))
        self.dept_dataset_cum = self._cum([d.datasets for d in self.depts], datasets)
        self.dept_read_action = np.array(
            [ACTIONS.index(f"gateway.{d.read_action}") for d in self.depts]
        )

    @staticmethod
    def _cum(rows: list[dict[str, float]], keys: list[str]) -> F64:
        m = np.array([[r.get(k, 0.0) for k in keys] for r in rows], dtype=np.float64)
        m /= m.sum(axis=1, keepdims=True)
        return np.cumsum(m, axis=1)

    def _relationships(self, rng: np.random.Generator) -> None:
        n = self.n_humans
        lengths = np.zeros(n, dtype=np.int64)
        parts: list[I64] = []
        kinds: list[str] = []
        emp: list[I64] = []
        for e in range(n):
            d = self.depts[self.dept[e]]
            if d.relationship is None:
                continue
            lo, hi = d.relationship_size
            k = int(rng.integers(lo, hi + 1))
            if d.relationship == "courier_route":
                s, t = self.district_start[self.home[e]], self.district_start[self.home[e] + 1]
            else:
                r = self.region[e]
                s, t = self.region_start[r], self.region_start[r + 1]
            k = min(k, int(t - s))
            ids = s + rng.choice(int(t - s), size=k, replace=False).astype(np.int64)
            parts.append(np.sort(ids))
            lengths[e] = k
            kinds.append(d.relationship)
            emp.append(np.full(k, e, dtype=np.int64))
        self.rel_len = lengths
        self.rel_off = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.rel_values = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        emp_idx = np.concatenate(emp) if emp else np.zeros(0, np.int64)
        kind_per_row = np.repeat(np.array(kinds, dtype=object), lengths[lengths > 0])
        self.relationships = pa.table(
            {
                "employee_id": self.actor_names.take(pa.array(emp_idx)),
                "customer_id": self.rel_values,
                "kind": pa.array(list(kind_per_row), type=pa.string()),
            },
            schema=RELATIONSHIP_SCHEMA,
        )

    # ---------------------------------------------------------------- calendar

    def date(self, day: int) -> dt.date:
        return self.w.start + dt.timedelta(days=day)

    def _day_factor(self, day: int) -> F64:
        """Per-department activity factor of ``day`` (weekend, holiday)."""
        date = self.date(day)
        if date in self.w.holidays:
            return np.full(len(self.depts), self.w.holiday_factor)
        if date.weekday() >= 5:
            return np.array([d.weekend_factor for d in self.depts])
        return np.ones(len(self.depts))

    def is_workday(self, day: int) -> bool:
        date = self.date(day)
        return date.weekday() < 5 and date not in self.w.holidays

    def _dept_on(self, day: int) -> I64:
        return np.where(day < self.transfer, self.old_dept, self.dept).astype(np.int64)

    def _active(self, day: int) -> tuple[B, I64, F64]:
        """Who works on ``day``, their department that day and their daily rate factor."""
        if self._active_memo is not None and self._active_memo[0] == day:
            return self._active_memo[1]
        present = (self.hired_day <= day) & ((self.leave_day < 0) | (self.leave_day > day))
        absent = _rng(self.seed, _ABSENCE, day).random(self.n_humans) < self.w.absence_share
        active = present & ~absent
        dd = self._dept_on(day)
        ramp = np.clip((day - self.hired_day + 1) / 10.0, 0.3, 1.0)  # new hires start slowly
        factor = self.mult * ramp * self._day_factor(day)[dd]
        out = (active, dd, np.where(active, factor, 0.0))
        self._active_memo = (day, out)
        return out

    @property
    def slices_per_day(self) -> int:
        return 1440 // self.w.slice_minutes

    def _slice_weight(self, s: int) -> F64:
        """Share of each shift's daily activity falling in slice ``s``: shape (2,)."""
        per_hour = 60 // self.w.slice_minutes if self.w.slice_minutes <= 60 else 0
        if per_hour:
            return SHIFTS[:, (s // per_hour) % 24] / per_hour
        hours = self.w.slice_minutes // 60
        return np.asarray(SHIFTS[:, s * hours : (s + 1) * hours].sum(axis=1), np.float64)

    # ---------------------------------------------------------------- tickets

    def tickets_of_day(self, day: int) -> dict[str, I64]:
        """The tickets opened on ``day`` (all slices): id, assignee, slice, customers, times and
        the number of accesses of each. Deterministic in (seed, day)."""
        cached = self._day_tickets.get(day)
        if cached is not None:
            return cached
        _, dd, factor = self._active(day)
        tpd = np.array([d.tickets_per_day for d in self.depts])[dd] * factor
        apt = np.array([d.accesses_per_ticket for d in self.depts])[dd]
        second = np.array([d.second_customer_share for d in self.depts])[dd]
        local = np.array([d.local_share for d in self.depts])[dd]
        L = self.w.slice_minutes * 60 * US
        out: dict[str, list[I64]] = {
            k: []
            for k in ("id", "assignee", "slice", "cust", "cust2", "opened", "span", "closed", "k")
        }
        for s in range(self.slices_per_day):
            rng = _rng(self.seed, _TICKETS, day, s)
            lam = tpd * self._slice_weight(s)[self.night]
            counts = rng.poisson(lam)
            assignee = np.repeat(np.arange(self.n_humans, dtype=np.int64), counts)
            m = len(assignee)
            cust = self._customers_near(rng, assignee, local[assignee])
            d_of = self._district_of(cust)
            has2 = rng.random(m) < second[assignee]
            size = np.diff(self.district_start)[d_of]
            cust2 = np.where(has2, self.district_start[d_of] + rng.integers(0, 10**9, m) % size, -1)
            opened = (day * DAY_US + s * L + rng.integers(0, L, m)).astype(np.int64)
            span = (np.exp(rng.normal(math.log(30 * 60), 0.8, m)) * US).astype(np.int64)
            u = rng.random(m)
            closed = np.where(
                u < 0.8,
                opened + span + rng.integers(0, 4 * 3600 * US, m),
                opened + rng.integers(DAY_US, 5 * DAY_US, m),
            )
            closed = np.where(u > 0.95, -1, closed)
            k = 1 + rng.poisson((apt[assignee] - 1.0) * self.w.rate_scale)
            tid = (day * self.slices_per_day + s) * 10_000_000 + np.arange(m, dtype=np.int64)
            for key, val in (
                ("id", tid), ("assignee", assignee), ("slice", np.full(m, s)), ("cust", cust),
                ("cust2", cust2), ("opened", opened), ("span", span), ("closed", closed), ("k", k),
            ):  # fmt: skip
                out[key].append(np.asarray(val, dtype=np.int64))
        result = {k: np.concatenate(v) for k, v in out.items()}
        self._day_tickets[day] = result
        return result

    def tickets_table(self, day: int) -> pa.Table:
        """The day's tickets as :data:`TICKET_SCHEMA` rows (one per ticket and customer)."""
        t = self.tickets_of_day(day)
        two = t["cust2"] >= 0
        tid = np.concatenate([t["id"], t["id"][two]])
        closed = np.concatenate([t["closed"], t["closed"][two]])
        return pa.table(
            {
                "ticket_id": _prefixed("T", tid),
                "assignee": self.actor_names.take(
                    pa.array(np.concatenate([t["assignee"], t["assignee"][two]]))
                ),
                "customer_id": np.concatenate([t["cust"], t["cust2"][two]]),
                "opened": _ts_array(self._abs(np.concatenate([t["opened"], t["opened"][two]]))),
                "closed": _ts_array(self._abs(closed), mask=closed < 0),
            },
            schema=TICKET_SCHEMA,
        )

    def _abs(self, rel_us: I64) -> I64:
        """Microseconds since the window's start -> since the Unix epoch."""
        return np.asarray(rel_us, np.int64) + self.start_ord * DAY_US

    def _district_of(self, cust: I64) -> I64:
        return ((cust - 1) * self.n_districts) // self.n_customers

    def _customers_near(self, rng: np.random.Generator, emp: I64, local: F64) -> I64:
        """One customer per element of ``emp``: in the employee's region with prob ``local``."""
        m = len(emp)
        r = self.region[emp]
        lo, hi = self.region_start[r], self.region_start[r + 1]
        near = lo + rng.integers(0, 10**12, m) % (hi - lo)
        anywhere = rng.integers(1, self.n_customers + 1, m)
        return np.where(rng.random(m) < local, near, anywhere).astype(np.int64)

    # ---------------------------------------------------------------- benign events

    def _slice_events(self, day: int, s: int, tickets: dict[str, I64]) -> _Chunk:
        rng = _rng(self.seed, _EVENTS, day, s)
        _, dd, factor = self._active(day)
        L = self.w.slice_minutes * 60 * US
        t0 = day * DAY_US + s * L
        weight = self._slice_weight(s)[self.night] * factor
        scale = self.w.rate_scale
        parts: list[_Chunk] = []
        # Ticket accesses: the first at the ticket's opening, the rest over its span.
        sel = tickets["slice"] == s
        k, opened, span = tickets["k"][sel], tickets["opened"][sel], tickets["span"][sel]
        tix = np.repeat(np.arange(len(k)), k)
        first = np.zeros(len(tix), dtype=np.bool_)
        first[np.cumsum(k) - k] = True
        ts = opened[tix] + np.where(first, 0, (rng.random(len(tix)) * span[tix]).astype(np.int64))
        cust = tickets["cust"][sel][tix]
        tid = tickets["id"][sel][tix]
        assignee = tickets["assignee"][sel][tix]
        two = np.flatnonzero(tickets["cust2"][sel] >= 0)
        if len(two):  # the second customer of a household ticket: one access
            ts = np.concatenate(
                [ts, opened[two] + (rng.random(len(two)) * span[two]).astype(np.int64)]
            )
            cust = np.concatenate([cust, tickets["cust2"][sel][two]])
            tid = np.concatenate([tid, tickets["id"][sel][two]])
            assignee = np.concatenate([assignee, tickets["assignee"][sel][two]])
        parts.append(self._reads(rng, day, assignee, ts, cust, tid))
        # Relationship accesses (courier routes, account managers): no ticket.
        rel = np.array([d.relationship_accesses_per_day for d in self.depts])[dd]
        lam = np.where(self.rel_len > 0, rel * weight * scale, 0.0)
        emp = np.repeat(np.arange(self.n_humans, dtype=np.int64), rng.poisson(lam))
        pick = self.rel_off[emp] + rng.integers(0, 10**12, len(emp)) % np.maximum(
            self.rel_len[emp], 1
        )
        parts.append(
            self._reads(rng, day, emp, t0 + rng.integers(0, L, len(emp)), self.rel_values[pick], -1)
        )
        # Unexplained but benign look-ups (call-backs, mistakes).
        noise = np.array([d.noise_per_day for d in self.depts])[dd]
        emp = np.repeat(
            np.arange(self.n_humans, dtype=np.int64), rng.poisson(noise * weight * scale)
        )
        local = np.array([d.local_share for d in self.depts])[dd][emp]
        parts.append(
            self._reads(
                rng,
                day,
                emp,
                t0 + rng.integers(0, L, len(emp)),
                self._customers_near(rng, emp, local),
                -1,
            )
        )
        # Aggregate SQL (counted customers, no ids) and approved exports (listed ids).
        q = np.array([d.queries_per_day for d in self.depts])[dd]
        emp = np.repeat(np.arange(self.n_humans, dtype=np.int64), rng.poisson(q * weight * scale))
        if len(emp):
            qd = dd[emp]
            lo = np.array([d.query_customers[0] for d in self.depts])[qd]
            hi = np.array([d.query_customers[1] for d in self.depts])[qd]
            n_c = np.exp(rng.uniform(np.log(lo), np.log(hi))).astype(np.int64)
            parts.append(
                _chunk(
                    ts=t0 + rng.integers(0, L, len(emp)),
                    actor=emp,
                    action=ACTIONS.index("gateway.query"),
                    channel=CHANNELS.index("sql"),
                    purpose=qd,
                    dataset=self._draw(rng, self.dept_dataset_cum[qd]),
                    ip=emp,
                    rows=n_c,
                    customers=n_c,
                    ids=_id_lists(np.zeros(0, np.int64), np.zeros(len(emp), np.int64)),
                )
            )
        x = np.array([d.exports_per_day for d in self.depts])[dd]
        emp = np.repeat(np.arange(self.n_humans, dtype=np.int64), rng.poisson(x * weight))
        for j, e in enumerate(emp):  # rare: a few a day
            d = self.depts[dd[e]]
            n_c = int(_log_uniform(rng, d.export_customers[0], d.export_customers[1], 1)[0])
            ids = np.unique(rng.integers(1, self.n_customers + 1, n_c))
            parts.append(
                _chunk(
                    ts=np.array([t0 + rng.integers(0, L)]),
                    actor=np.array([e]),
                    action=ACTIONS.index("gateway.export"),
                    channel=CHANNELS.index("export"),
                    purpose=int(dd[e]),
                    dataset=self._draw(rng, self.dept_dataset_cum[dd[[e]]]),
                    ip=np.array([e]),
                    rows=np.array([len(ids)]),
                    customers=np.array([len(ids)]),
                    ids=_id_lists(ids, np.array([len(ids)])),
                    export=(day * self.slices_per_day + s) * 1000 + j,
                )
            )
        parts.append(self._batch_jobs(rng, day, s, t0, L))
        return _Chunk.concat(parts)

    def _batch_jobs(self, rng: np.random.Generator, day: int, s: int, t0: int, L: int) -> _Chunk:
        S = self.w.service_accounts
        hour = (s * self.w.slice_minutes) // 60
        per_slice = self.w.batch_events_per_night * self.w.slice_minutes / (3 * 60)
        m = int(rng.poisson(per_slice * S)) if S and 1 <= hour < 4 else 0
        actor = self.n_humans + rng.integers(0, max(S, 1), m)
        lo, hi = self.w.batch_customers
        n_c = rng.integers(lo, hi + 1, m)
        return _chunk(
            ts=t0 + rng.integers(0, L, m),
            actor=actor,
            action=ACTIONS.index("batch.run"),
            channel=CHANNELS.index("batch"),
            purpose=len(self.depts),
            dataset=self.dataset_names.index("billing/invoices"),
            ip=actor,
            rows=n_c,
            customers=n_c,
            ids=_id_lists(np.zeros(0, np.int64), np.zeros(m, np.int64)),
        )

    @staticmethod
    def _draw(rng: np.random.Generator, cum: F64) -> I64:
        """One category per row of the cumulative-probability matrix ``cum``."""
        u = rng.random(len(cum))
        idx = np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)
        return np.asarray(idx, dtype=np.int64)

    def _reads(
        self,
        rng: np.random.Generator,
        day: int,
        emp: I64,
        ts: I64,
        cust: I64,
        ticket: I64 | int,
    ) -> _Chunk:
        """Single-customer reads by ``emp`` in their department's usual channels and datasets."""
        m = len(emp)
        dd = self._dept_on(day)[emp]
        denied = rng.random(m) < self.w.denied_share
        channel = self._draw(rng, self.dept_channel_cum[dd])
        action = np.where(
            channel == CHANNELS.index("sql"),
            ACTIONS.index("gateway.query"),
            self.dept_read_action[dd],
        )
        return _chunk(
            ts=ts,
            actor=emp,
            action=action,
            outcome=denied.astype(np.int64),
            channel=channel,
            purpose=dd,
            dataset=self._draw(rng, self.dept_dataset_cum[dd]),
            ip=emp,
            rows=np.where(denied, 0, 1 + rng.poisson(2.0, m)),
            customers=np.ones(m, np.int64),
            ids=_id_lists(cust, np.ones(m, np.int64)),
            ticket=ticket,
        )

    # ---------------------------------------------------------------- insiders

    def baseline_customers(self, e: int) -> float:
        """The employee's expected distinct customers on a working day (tickets, relationships,
        look-ups): what slow-and-low shares and adaptive caps are relative to."""
        d = self.depts[self.dept[e]]
        rel = min(d.relationship_accesses_per_day, float(self.rel_len[e]))
        per_day = d.tickets_per_day * (1 + d.second_customer_share) + rel + d.noise_per_day
        return max(1.0, float(self.mult[e]) * float(per_day))

    def _plan_insiders(self) -> None:
        rng = _rng(self.seed, _INSIDER_PLAN)
        dept_idx = {d.name: k for k, d in enumerate(self.depts)}
        taken = np.zeros(self.n_humans, dtype=np.bool_)
        # insiders work day shifts: their malicious daytime hours are then their working hours
        steady = (self.hired_day < 0) & (self.leave_day < 0) & (self.transfer >= 10**6)
        steady &= self.night == 0
        self.insider_plans: list[_Insider] = []
        for f in self.scenario.families:
            allowed = np.isin(self.dept, [dept_idx[d] for d in f.departments])
            pool = np.flatnonzero(allowed & steady & ~taken)
            if len(pool) < f.count:
                raise ValueError(
                    f"families.{f.name}: {f.count} insiders wanted, {len(pool)} eligible employees"
                )
            for e in rng.choice(pool, size=f.count, replace=False):
                taken[e] = True
                self.insider_plans.append(self._plan_one(rng, int(e), f))
        self._by_day: dict[int, list[_Insider]] = {}
        for ins in self.insider_plans:
            for d in ins.days:
                self._by_day.setdefault(d, []).append(ins)
        self._apply_leaving()

    def _workdays(self, first: int, count: int) -> list[int]:
        out: list[int] = []
        d = first
        while len(out) < count and d < self.w.days:
            if self.is_workday(d):
                out.append(d)
            d += 1
        return out

    def _plan_one(self, rng: np.random.Generator, e: int, f: Family) -> _Insider:
        w = self.w
        base = self.baseline_customers(e)
        dlo, dhi = f.days
        span = int(rng.integers(dlo, dhi + 1))
        last_start = max(w.warmup_days, w.days - (span if f.kind != "bulk" else 5) - 1)
        start = int(rng.integers(w.warmup_days, last_start + 1))
        while not self.is_workday(start) and f.kind != "off_hours":
            start += 1
        dept = self.depts[self.dept[e]]
        ins = _Insider(employee=e, family=f, start=start, days=[], intensity=0.0)
        ins.channel = _choose(rng, f.channels, 1)[0]
        ins.dataset = _choose(rng, dept.datasets, 1)[0]
        cap = max(1, int(f.daily_cap * base)) if f.adaptive else 10**9
        if f.kind == "bulk":
            lo, hi = f.total
            total = (
                int(_log_uniform(rng, lo, hi, 1)[0])
                if f.total_log
                else int(rng.integers(lo, hi + 1))
            )
            total = min(total, self.n_customers // 2)
            ins.intensity = float(total)
            if not f.adaptive:
                ins.days = [start]
                ins.per_day = {start: total}
                ins.requests = int(rng.integers(f.requests[0], f.requests[1] + 1))
                ins.detail = f"{ins.channel}, {ins.requests} requests"
            else:
                chunk = int(rng.integers(f.window_cap[0], f.window_cap[1] + 1))
                ins.chunk = chunk
                ins.pool = (
                    rng.choice(self.n_customers, size=total, replace=False).astype(np.int64) + 1
                )
                per_day = int(rng.integers(20, 80)) * chunk
                days = self._workdays(start, math.ceil(total / per_day))
                ins.days = days
                ins.per_day = {d: min(per_day, total - i * per_day) for i, d in enumerate(days)}
                ins.detail = f"chunks of {chunk}"
        elif f.kind == "slow_and_low":
            share = float(rng.uniform(*f.share))
            ins.intensity = share
            ins.days = self._workdays(start, span)
            ins.per_day = {d: min(int(rng.poisson(share * base)), cap) for d in ins.days}
            ins.detail = f"baseline {base:.1f}/day"
        elif f.kind in ("snooping", "peer_deviation", "departing"):
            rate = float(rng.uniform(*f.per_day))
            ins.intensity = rate
            ins.days = self._workdays(start, span)
            ins.per_day = {d: max(1, min(int(rng.poisson(rate)), cap)) for d in ins.days}
            if f.kind == "snooping":
                target = _choose(rng, f.targets, 1)[0]
                ins.pool, ins.detail = self._snoop_pool(rng, target)
            elif f.kind == "peer_deviation":
                ins.dataset = str(rng.choice(list(f.foreign_datasets)))
                other = int((self.region[e] + rng.integers(1, max(2, w.regions))) % w.regions)
                ins.pool = np.arange(self.region_start[other], self.region_start[other + 1])
                ins.detail = f"{ins.dataset}, region R{other:02d}"
            else:
                notice = int(rng.integers(f.notice_days[0], f.notice_days[1] + 1))
                ins.detail = f"leaving day {start + max(notice, span)}"
                self.leave_day[e] = start + max(notice, span)
        elif f.kind == "off_hours":
            rate = float(rng.uniform(*f.per_day))
            ins.intensity = rate
            nights = sorted(
                rng.choice(
                    np.arange(start, min(w.days, start + 2 * span)),
                    size=min(span, w.days - start),
                    replace=False,
                )
            )
            ins.days = [int(x) for x in nights]
            ins.per_day = {d: max(1, int(rng.poisson(rate))) for d in ins.days}
            ins.detail = f"{ins.channel} at {f.hours[0]:02d}-{f.hours[1]:02d}h"
        ins.start = ins.days[0] if ins.days else start
        return ins

    def _snoop_pool(self, rng: np.random.Generator, target: str) -> tuple[I64, str]:
        if target == "district":
            k = int(rng.integers(0, self.n_districts))
            ids = np.arange(self.district_start[k], self.district_start[k + 1])
            return rng.permutation(ids), f"district {k}"
        if target == "vip" and len(self.vip_ids):
            return rng.permutation(self.vip_ids), "VIP customers"
        if target == "coworkers" and len(self.coworker_ids):
            return rng.permutation(self.coworker_ids), "co-workers' records"
        return rng.integers(1, self.n_customers + 1, 5000), "random customers"

    def _apply_leaving(self) -> None:
        """Departing insiders' leaving dates into the employees table (the HR signal)."""
        leave = self.leave_day[: self.n_humans]
        mask = np.concatenate([leave < 0, np.ones(self.w.service_accounts, dtype=np.bool_)])
        days = np.concatenate(
            [np.where(leave >= 0, self.start_ord + leave, 0), np.zeros(self.w.service_accounts)]
        )
        i = self.employees.schema.get_field_index("leaving")
        self.employees = self.employees.set_column(
            i, "leaving", date32(days.astype(np.int64), mask)
        )

    def _insider_day(self, day: int, tickets: dict[str, I64]) -> _Chunk:
        parts: list[_Chunk] = []
        for ins in self._by_day.get(day, []):
            rng = _rng(self.seed, _INSIDER_DAY, day, ins.employee)
            parts.append(self._malicious(rng, ins, day, tickets))
        return _Chunk.concat(parts) if parts else self._empty()

    def _empty(self) -> _Chunk:
        z = np.zeros(0, np.int64)
        return _chunk(
            ts=z, actor=z, action=z, channel=z, purpose=z, dataset=z, ip=z, rows=z, customers=z,
            ids=_id_lists(z, z),
        )  # fmt: skip

    def _malicious(
        self, rng: np.random.Generator, ins: _Insider, day: int, tickets: dict[str, I64]
    ) -> _Chunk:
        f, e = ins.family, ins.employee
        n = ins.per_day.get(day, 0)
        dept_k = int(self.dept[e])
        dept = self.depts[dept_k]
        day0 = day * DAY_US
        work = (day0 + WORK_HOURS[0] * 3600 * US, day0 + WORK_HOURS[1] * 3600 * US)
        purpose: int = dept_k
        ip = e
        export = -1
        if f.kind == "bulk" and not f.adaptive:
            r = ins.requests
            minutes = int(rng.integers(f.minutes[0], f.minutes[1] + 1))
            t_start = int(rng.uniform(*work))
            ts = np.sort(t_start + (rng.random(r) * minutes * 60 * US).astype(np.int64))
            ts[0] = t_start
            ids = rng.choice(self.n_customers, size=n, replace=False).astype(np.int64) + 1
            lengths = np.diff(np.linspace(0, n, r + 1).astype(np.int64)).astype(np.int64)
            b_channel = CHANNELS.index(ins.channel)
            b_action = {"sql": "gateway.query", "export": "gateway.export"}.get(
                ins.channel, "gateway.read"
            )
            if ins.channel == "export":
                export = 900_000_000 + e
            if ins.channel == "sql":
                purpose = -1
            return _chunk(
                ts=ts, actor=np.full(r, e), action=ACTIONS.index(b_action), channel=b_channel,
                purpose=purpose, dataset=self.dataset_names.index(ins.dataset), ip=np.full(r, e),
                rows=lengths * 2, customers=lengths, ids=_id_lists(ids, lengths), export=export,
                malicious=True,
            )  # fmt: skip
        if f.kind == "bulk":  # adaptive: single-customer reads in chunks under the window cap
            r = math.ceil(n / ins.chunk)
            gap = rng.uniform(6, 8, r) * 60 * US
            ts0 = (work[0] + np.cumsum(gap)).astype(np.int64)
            lengths = np.diff(np.linspace(0, n, r + 1).astype(np.int64)).astype(np.int64)
            ts = np.repeat(ts0, lengths) + rng.integers(0, 60 * US, n)
            used = sum(ins.per_day[d] for d in ins.days if d < day)
            cust = ins.pool[used : used + n]  # distinct customers over the whole campaign
        elif f.kind == "slow_and_low" or f.kind == "departing":
            ts = rng.integers(int(work[0]), int(work[1]), n)
            local = np.full(n, dept.local_share)
            cust = self._customers_near(rng, np.full(n, e), local)
        elif f.kind == "snooping":
            used = sum(ins.per_day.get(d, 0) for d in ins.days if d < day)
            pool = ins.pool
            cust = pool[(used + np.arange(n)) % len(pool)]
            ts = rng.integers(int(work[0]), int(work[1]), n)
        elif f.kind == "peer_deviation":
            cust = rng.choice(ins.pool, size=n, replace=False)
            ts = rng.integers(int(work[0]), int(work[1]), n)
        else:  # off_hours
            h0, h1 = f.hours
            ts = rng.integers(day0 + h0 * 3600 * US, day0 + h1 * 3600 * US, n)
            cust = rng.integers(1, self.n_customers + 1, n)
            ip = self.vpn_base + int(rng.integers(0, 500))
        ts = np.asarray(ts, np.int64)
        cust = np.asarray(cust, np.int64)
        m = len(ts)
        ticket: I64 | int = -1
        if f.adaptive:
            ticket, ts = self._reuse_tickets(rng, ins, day, tickets, ts)
        if f.kind == "off_hours":
            channel = np.full(m, CHANNELS.index(ins.channel))
        else:
            channel = self._draw(rng, np.repeat(self.dept_channel_cum[[dept_k]], m, axis=0))
        action = np.where(
            channel == CHANNELS.index("sql"),
            ACTIONS.index("gateway.query"),
            np.where(
                channel == CHANNELS.index("export"),
                ACTIONS.index("gateway.export"),
                self.dept_read_action[dept_k],
            ),
        )
        if f.kind == "peer_deviation":
            dataset: I64 | int = self.dataset_names.index(ins.dataset)
        else:
            dataset = self._draw(rng, np.repeat(self.dept_dataset_cum[[dept_k]], m, axis=0))
        return _chunk(
            ts=ts, actor=np.full(m, e), action=action, channel=channel, purpose=purpose,
            dataset=dataset, ip=np.full(m, ip), rows=1 + rng.poisson(2.0, m),
            customers=np.ones(m, np.int64), ids=_id_lists(cust, np.ones(m, np.int64)),
            ticket=ticket, malicious=True,
        )  # fmt: skip

    def _reuse_tickets(
        self, rng: np.random.Generator, ins: _Insider, day: int, tickets: dict[str, I64], ts: I64
    ) -> tuple[I64, I64]:
        """State one of the actor's own real tickets (opened before the access) on each access."""
        mine = np.flatnonzero(tickets["assignee"] == ins.employee)
        ids = tickets["id"][mine]
        opened = tickets["opened"][mine]
        if ins.last_ticket is None:  # the latest ticket of theirs from the days before
            for d in range(day - 1, max(-1, day - 60), -1):
                old = self.tickets_of_day(d)
                theirs = np.flatnonzero(old["assignee"] == ins.employee)
                if not self._keep_tickets:
                    self._day_tickets.pop(d, None)
                if len(theirs):
                    ins.last_ticket = (int(old["id"][theirs[-1]]), int(old["opened"][theirs[-1]]))
                    break
        if ins.last_ticket is not None:
            ids = np.concatenate([[ins.last_ticket[0]], ids])
            opened = np.concatenate([[ins.last_ticket[1]], opened])
        if not len(ids):
            return np.full(len(ts), -1, np.int64), ts
        order = np.argsort(opened, kind="stable")
        ids, opened = ids[order], opened[order]
        ts = np.maximum(ts, opened[0] + 60 * US)  # only when no earlier ticket exists at all
        before = np.searchsorted(opened, ts - 60 * US, side="right")  # tickets opened by then
        pick = (rng.random(len(ts)) * before).astype(np.int64)
        ins.last_ticket = (int(ids[-1]), int(opened[-1]))
        return ids[pick].astype(np.int64), ts

    # ---------------------------------------------------------------- output

    def insiders_table(self) -> pa.Table:
        rows: dict[str, list[Any]] = {k: [] for k in INSIDER_SCHEMA.names}
        for ins in self.insider_plans:
            f = ins.family
            rows["actor"].append(self.actor_names[ins.employee].as_py())
            rows["family"].append(f.name)
            rows["kind"].append(f.kind)
            rows["adaptive"].append(f.adaptive)
            rows["base"].append(f.base)
            rows["department"].append(self.depts[self.dept[ins.employee]].name)
            rows["start_day"].append(self.date(ins.days[0] if ins.days else ins.start))
            rows["end_day"].append(self.date(ins.days[-1] if ins.days else ins.start))
            rows["intensity"].append(ins.intensity)
            rows["detail"].append(ins.detail)
        return pa.table(rows, schema=INSIDER_SCHEMA)

    def _to_batch(self, c: _Chunk) -> pa.RecordBatch:
        n = len(c)
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        purpose_idx = pa.array(c.purpose, type=pa.int64(), mask=c.purpose < 0)
        return pa.RecordBatch.from_arrays(
            [
                pa.array(seq),
                _ts_array(self._abs(c.ts)),
                self.actor_names.take(pa.array(c.actor)),
                pa.array(ACTIONS).take(pa.array(c.action)),
                pa.array(OUTCOMES).take(pa.array(c.outcome)),
                pa.array(CHANNELS).take(pa.array(c.channel)),
                pa.array(self.purpose_names).take(purpose_idx),
                pa.array(self.dataset_names).take(pa.array(c.dataset)),
                self.ips.take(pa.array(c.ip)),
                pa.array(c.rows, type=pa.int64()),
                pa.array(c.customers, type=pa.int64()),
                c.ids,
                _prefixed("T", c.ticket),
                _prefixed("X", c.export),
            ],
            schema=EVENT_SCHEMA,
        )

    def batches(self, days: range | None = None, keep_tickets: bool = True) -> Iterator[SimBatch]:
        """Time-ordered event batches, one per slice (``days``: a sub-range of the window).
        ``keep_tickets=False`` forgets each day's tickets once its events are out (a long stream
        then holds one day of tickets; :meth:`tickets` draws them again, identically)."""
        days = days if days is not None else range(self.w.days)
        self._seq = 0
        self._keep_tickets = keep_tickets
        for ins in self.insider_plans:
            ins.last_ticket = None
        pending = self._empty()
        L = self.w.slice_minutes * 60 * US
        for day in days:
            tickets = self.tickets_of_day(day)
            pending = _Chunk.concat([pending, self._insider_day(day, tickets)])
            for s in range(self.slices_per_day):
                pending = _Chunk.concat([pending, self._slice_events(day, s, tickets)])
                end = day * DAY_US + (s + 1) * L
                now = pending.ts < end
                out = pending.take(np.flatnonzero(now))
                pending = pending.take(np.flatnonzero(~now))
                out = out.take(np.argsort(out.ts, kind="stable"))
                yield SimBatch(self._to_batch(out), out.malicious)
            if not keep_tickets:
                self._day_tickets.pop(day, None)
        if len(pending):
            pending = pending.take(np.argsort(pending.ts, kind="stable"))
            yield SimBatch(self._to_batch(pending), pending.malicious)

    def tickets(self, days: range | None = None) -> pa.Table:
        days = days if days is not None else range(self.w.days)
        return pa.concat_tables([self.tickets_table(d) for d in days])

    def context(self, days: range | None = None) -> Context:
        return Context(
            employees=self.employees,
            tickets=self.tickets(days),
            relationships=self.relationships,
            customers=self.customers,
        )

    def run(self, days: range | None = None) -> SimRun:
        """The whole window (or ``days``) in memory."""
        batches, flags = [], []
        for b in self.batches(days):
            batches.append(b.events)
            flags.append(b.malicious)
        return SimRun(
            events=pa.Table.from_batches(batches, schema=EVENT_SCHEMA),
            malicious=np.concatenate(flags) if flags else np.zeros(0, np.bool_),
            context=self.context(days),
            insiders=self.insiders_table(),
            scenario=self.scenario,
            seed=self.seed,
        )
