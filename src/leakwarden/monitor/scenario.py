"""The insider simulator's scenario: the simulated enterprise and the injected insiders, read from
a TOML file (``scenarios/default.toml`` beside this module) into frozen dataclasses.

The injection parameters live here and in the file, apart from the detector's code; the detector
never imports this module. :func:`load_scenario` checks every value and names the key that is
wrong; ``overrides`` (dotted keys, e.g. ``{"world.employees": 500}``) change a copy for tests and
the benchmark's quick runs.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.toml"
KINDS = ("bulk", "slow_and_low", "snooping", "peer_deviation", "off_hours", "departing")
CHANNELS = ("api", "sql", "export", "console", "batch")
TARGETS = ("district", "vip", "coworkers", "random")


class ScenarioError(ValueError):
    """A scenario value is missing or wrong; the message names the key."""


@dataclass(frozen=True)
class Department:
    name: str
    share: float
    roles: dict[str, float]
    role_rate: dict[str, float]
    tickets_per_day: float
    accesses_per_ticket: float
    second_customer_share: float
    noise_per_day: float
    relationship: str | None
    relationship_size: tuple[int, int]
    relationship_accesses_per_day: float
    read_action: str
    channels: dict[str, float]
    datasets: dict[str, float]
    purpose: str
    night_shift_share: float
    weekend_factor: float
    local_share: float
    queries_per_day: float
    query_customers: tuple[int, int]
    exports_per_day: float
    export_customers: tuple[int, int]


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    count: int
    adaptive: bool
    base: str | None
    departments: tuple[str, ...]
    days: tuple[int, int]
    per_day: tuple[float, float]
    share: tuple[float, float]
    total: tuple[int, int]
    total_log: bool
    requests: tuple[int, int]
    minutes: tuple[int, int]
    window_cap: tuple[int, int]
    channels: dict[str, float]
    targets: dict[str, float]
    hours: tuple[int, int]
    foreign_datasets: tuple[str, ...]
    notice_days: tuple[int, int]
    daily_cap: float


@dataclass(frozen=True)
class World:
    seed: int
    start: dt.date
    days: int
    warmup_days: int
    employees: int
    customers: int
    regions: int
    districts_per_region: int
    vip_share: float
    employee_customer_share: float
    new_hire_share: float
    leaver_share: float
    transfer_share: float
    absence_share: float
    holiday_factor: float
    holidays: tuple[dt.date, ...]
    denied_share: float
    activity_sigma: float
    rate_scale: float
    slice_minutes: int
    service_accounts: int
    batch_customers: tuple[int, int]
    batch_events_per_night: int


@dataclass(frozen=True)
class Scenario:
    world: World
    departments: tuple[Department, ...]
    families: tuple[Family, ...]
    source: str

    def family(self, name: str) -> Family:
        for f in self.families:
            if f.name == name:
                return f
        raise KeyError(name)


class _Reader:
    """Typed access to one TOML table, naming ``where`` in every error."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            raise ScenarioError(f"{self.where}.{key}: missing")
        return default

    def num(
        self, key: str, default: Any = None, *, lo: float = 0.0, hi: float | None = None
    ) -> float:
        v = self._get(key, _REQUIRED if default is None else default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ScenarioError(f"{self.where}.{key}: expected a number, got {v!r}")
        if v < lo or (hi is not None and v > hi):
            raise ScenarioError(f"{self.where}.{key}: {v} is outside [{lo}, {hi}]")
        return float(v)

    def int_(self, key: str, default: Any = None, *, lo: int = 0) -> int:
        v = self.num(key, default, lo=lo)
        if v != int(v):
            raise ScenarioError(f"{self.where}.{key}: expected a whole number, got {v}")
        return int(v)

    def flag(self, key: str, default: bool) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise ScenarioError(f"{self.where}.{key}: expected true or false, got {v!r}")
        return v

    def text(self, key: str, default: Any = None) -> str:
        v = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(v, str) or not v:
            raise ScenarioError(f"{self.where}.{key}: expected a non-empty string, got {v!r}")
        return v

    def pair(self, key: str, default: Any = None, *, lo: float = 0.0) -> tuple[float, float]:
        v = self._get(key, _REQUIRED if default is None else default)
        ok = isinstance(v, list | tuple) and len(v) == 2
        if not ok or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
            raise ScenarioError(f"{self.where}.{key}: expected [low, high], got {v!r}")
        a, b = float(v[0]), float(v[1])
        if a < lo or b < a:
            raise ScenarioError(f"{self.where}.{key}: need {lo} <= low <= high, got {v!r}")
        return a, b

    def ipair(self, key: str, default: Any = None, *, lo: int = 0) -> tuple[int, int]:
        a, b = self.pair(key, default, lo=lo)
        if a != int(a) or b != int(b):
            raise ScenarioError(f"{self.where}.{key}: expected whole numbers, got {[a, b]}")
        return int(a), int(b)

    def weights(
        self, key: str, default: Any = None, allowed: tuple[str, ...] | None = None
    ) -> dict[str, float]:
        v = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(v, Mapping) or not v:
            raise ScenarioError(f"{self.where}.{key}: expected a table of weights, got {v!r}")
        out: dict[str, float] = {}
        for k, w in v.items():
            if allowed is not None and k not in allowed:
                raise ScenarioError(f"{self.where}.{key}: {k!r} is not one of {allowed}")
            if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                raise ScenarioError(f"{self.where}.{key}.{k}: expected a weight >= 0, got {w!r}")
            out[str(k)] = float(w)
        if sum(out.values()) <= 0:
            raise ScenarioError(f"{self.where}.{key}: the weights sum to 0")
        return out

    def strings(self, key: str, default: Any = None) -> tuple[str, ...]:
        v = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ScenarioError(f"{self.where}.{key}: expected a list of strings, got {v!r}")
        return tuple(v)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ScenarioError(f"{self.where}: unknown key(s) {', '.join(unknown)}")


_REQUIRED = object()


def _world(r: _Reader) -> World:
    start = r._get("start", _REQUIRED)
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise ScenarioError(f"world.start: {exc}") from exc
    if not isinstance(start, dt.date):
        raise ScenarioError(f"world.start: expected a date, got {start!r}")
    holidays = []
    for h in r.strings("holidays", []):
        try:
            holidays.append(dt.date.fromisoformat(h))
        except ValueError as exc:
            raise ScenarioError(f"world.holidays: {h!r}: {exc}") from exc
    w = World(
        seed=r.int_("seed"),
        start=start,
        days=r.int_("days", lo=1),
        warmup_days=r.int_("warmup_days", 0),
        employees=r.int_("employees", lo=10),
        customers=r.int_("customers", lo=100),
        regions=r.int_("regions", lo=1),
        districts_per_region=r.int_("districts_per_region", lo=1),
        vip_share=r.num("vip_share", 0.01, hi=1),
        employee_customer_share=r.num("employee_customer_share", 0.0, hi=1),
        new_hire_share=r.num("new_hire_share", 0.0, hi=0.5),
        leaver_share=r.num("leaver_share", 0.0, hi=0.5),
        transfer_share=r.num("transfer_share", 0.0, hi=0.5),
        absence_share=r.num("absence_share", 0.0, hi=0.9),
        holiday_factor=r.num("holiday_factor", 0.15, hi=1),
        holidays=tuple(holidays),
        denied_share=r.num("denied_share", 0.0, hi=0.5),
        activity_sigma=r.num("activity_sigma", 0.3, hi=2),
        rate_scale=r.num("rate_scale", 1.0, lo=1e-3),
        slice_minutes=r.int_("slice_minutes", 60, lo=1),
        service_accounts=r.int_("service_accounts", 0),
        batch_customers=r.ipair("batch_customers", [20000, 60000], lo=1),
        batch_events_per_night=r.int_("batch_events_per_night", 40),
    )
    r.done()
    if 1440 % w.slice_minutes:
        raise ScenarioError(f"world.slice_minutes: {w.slice_minutes} does not divide a day")
    if w.warmup_days >= w.days:
        raise ScenarioError("world.warmup_days: must be fewer than world.days")
    if w.customers < w.regions * w.districts_per_region:
        raise ScenarioError("world.customers: fewer customers than districts")
    return w


def _department(name: str, r: _Reader) -> Department:
    d = Department(
        name=name,
        share=r.num("share"),
        roles=r.weights("roles"),
        role_rate=dict(r.weights("role_rate", {"_": 1.0})),
        tickets_per_day=r.num("tickets_per_day"),
        accesses_per_ticket=r.num("accesses_per_ticket", lo=1.0),
        second_customer_share=r.num("second_customer_share", 0.0, hi=1),
        noise_per_day=r.num("noise_per_day", 0.0),
        relationship=r.text("relationship", "-"),
        relationship_size=r.ipair("relationship_size", [0, 0]),
        relationship_accesses_per_day=r.num("relationship_accesses_per_day", 0.0),
        read_action=r.text("read_action", "read"),
        channels=r.weights("channels", allowed=CHANNELS),
        datasets=r.weights("datasets"),
        purpose=r.text("purpose"),
        night_shift_share=r.num("night_shift_share", 0.0, hi=1),
        weekend_factor=r.num("weekend_factor", 0.1, hi=1),
        local_share=r.num("local_share", 0.5, hi=1),
        queries_per_day=r.num("queries_per_day", 0.0),
        query_customers=r.ipair("query_customers", [1000, 100000], lo=1),
        exports_per_day=r.num("exports_per_day", 0.0),
        export_customers=r.ipair("export_customers", [1000, 10000], lo=1),
    )
    r.done()
    rel = None if d.relationship == "-" else d.relationship
    role_rate = {k: v for k, v in d.role_rate.items() if k != "_"}
    unknown = set(role_rate) - set(d.roles)
    if unknown:
        raise ScenarioError(f"departments.{name}.role_rate: unknown role(s) {sorted(unknown)}")
    if rel and d.relationship_size[1] == 0:
        raise ScenarioError(f"departments.{name}.relationship_size: needed with a relationship")
    return Department(**{**d.__dict__, "relationship": rel, "role_rate": role_rate})


def _family(name: str, r: _Reader, departments: set[str]) -> Family:
    kind = r.text("kind")
    if kind not in KINDS:
        raise ScenarioError(f"families.{name}.kind: {kind!r} is not one of {KINDS}")
    f = Family(
        name=name,
        kind=kind,
        count=r.int_("count", lo=0),
        adaptive=r.flag("adaptive", False),
        base=r.text("base", "-"),
        departments=r.strings("departments"),
        days=r.ipair("days", [1, 1], lo=1),
        per_day=r.pair("per_day", [1, 1], lo=0),
        share=r.pair("share", [0.1, 0.1], lo=0),
        total=r.ipair("total", [1000, 1000], lo=1),
        total_log=r.flag("total_log", False),
        requests=r.ipair("requests", [1, 1], lo=1),
        minutes=r.ipair("minutes", [1, 1], lo=1),
        window_cap=r.ipair("window_cap", [500, 500], lo=1),
        channels=r.weights("channels", {"api": 1.0}, allowed=CHANNELS),
        targets=r.weights("targets", {"random": 1.0}, allowed=TARGETS),
        hours=r.ipair("hours", [0, 5]),
        foreign_datasets=r.strings("foreign_datasets", ["billing/payment_methods"]),
        notice_days=r.ipair("notice_days", [10, 30], lo=1),
        daily_cap=r.num("daily_cap", 1.0),
    )
    r.done()
    bad = [d for d in f.departments if d not in departments]
    if bad or not f.departments:
        raise ScenarioError(f"families.{name}.departments: unknown or empty {bad}")
    if f.hours[1] > 24 or f.hours[0] >= f.hours[1]:
        raise ScenarioError(f"families.{name}.hours: need 0 <= start < end <= 24")
    return Family(**{**f.__dict__, "base": None if f.base == "-" else f.base})


def load_scenario(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Read and check a scenario file (default: the packaged ``default.toml``)."""
    p = Path(path) if path is not None else DEFAULT_SCENARIO
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"scenario {p}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {p}: {exc}") from exc
    data = copy.deepcopy(data)
    for key, value in (overrides or {}).items():
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ScenarioError(f"override {key!r}: {part!r} is not a table of the scenario")
            node = node[part]
        node[parts[-1]] = value
    return parse_scenario(data, str(p))


def parse_scenario(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    unknown = set(data) - {"world", "departments", "families"}
    if unknown:
        raise ScenarioError(f"scenario: unknown table(s) {sorted(unknown)}")
    for table in ("world", "departments", "families"):
        if not isinstance(data.get(table), Mapping):
            raise ScenarioError(f"scenario: missing table [{table}]")
    world = _world(_Reader(data["world"], "world"))
    departments = tuple(
        _department(name, _Reader(d, f"departments.{name}"))
        for name, d in data["departments"].items()
    )
    if sum(d.share for d in departments) <= 0:
        raise ScenarioError("departments: the shares sum to 0")
    names = {d.name for d in departments}
    families = tuple(
        _family(name, _Reader(f, f"families.{name}"), names) for name, f in data["families"].items()
    )
    fnames = {f.name for f in families}
    for f in families:
        if f.base is not None and f.base not in fnames:
            raise ScenarioError(f"families.{f.name}.base: no family {f.base!r}")
    return Scenario(world=world, departments=departments, families=families, source=source)
