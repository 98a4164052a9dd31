"""The gateway's policy engine: Cedar policies (``cedarpy``) turn an ``AccessRequest`` into a
``Decision`` with one ``Treatment`` per column.

A policy directory holds ``*.cedar`` files (read in name order), one ``*.cedarschema`` file and
``tests/*.json`` cases (see :func:`load_cases`).  At load time every policy must carry a unique
``@id("...")`` annotation and the set must validate against the schema; any problem is a
:class:`PolicyLoadError` naming the file, line and column.

One decision evaluates, in one Cedar batch:

- ``access`` on the ``Table``: may this principal use this table for this purpose and action;
- ``all_regions`` on the ``Table``: if not permitted, rows are filtered to the principal's region
  (``row_filter={"region": principal.region}``);
- ``read_clear``, ``read_pseudonymised`` and ``read_masked`` on every requested ``Column``: the
  strongest permitted is the column's treatment, none permitted -> DENIED.

Columns are entities with the attributes of the catalogue (data classes, sensitivity), so the
policies speak of data classes, not column names.  Fail closed: an unknown table or column, a
Cedar evaluation error in any policy (Cedar skips an erroring policy, which could drop a forbid)
or any other failure is a refusal whose reason names the problem; :meth:`PolicyEngine.decide`
never raises.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

from leakwarden.gateway.catalog import Catalog, TableInfo, UnknownColumn, UnknownTable
from leakwarden.gateway.decision import (
    AccessRequest,
    Decision,
    Principal,
    Treatment,
    department_id,
    role_id,
)

__all__ = [
    "COLUMN_ACTIONS",
    "DEFAULT_POLICY_DIR",
    "PURPOSES",
    "CaseError",
    "CaseResult",
    "Evaluation",
    "PolicyCase",
    "PolicyEngine",
    "PolicyLoadError",
    "load_cases",
    "run_cases",
    "unexercised",
]

DEFAULT_POLICY_DIR = Path(__file__).with_name("policies")

# Purposes the shipped policies know (any other purpose is permitted nothing).
PURPOSES: dict[str, str] = {
    "customer_service": "客服: working a customer's ticket (ticket required)",
    "delivery": "配送: delivering orders, printing privacy waybills",
    "billing": "财务: invoices, refunds, card reconciliation",
    "fraud_review": "风控: reviewing suspected fraud (ticket required)",
    "marketing": "营销: campaigns on pseudonymised identifiers",
    "analytics": "数据分析: pseudonymised or aggregated analysis",
    "debugging": "技术: investigating a fault on masked data",
    "security_investigation": "安全: investigating a leak (ticket required)",
}

# Column actions from strongest to weakest, with the treatment each gives.
COLUMN_ACTIONS: tuple[tuple[str, Treatment], ...] = (
    ("read_clear", Treatment.CLEAR),
    ("read_pseudonymised", Treatment.PSEUDONYMISED),
    ("read_masked", Treatment.MASKED),
)
_TABLE_ACTIONS = ("access", "all_regions")
_ANNOTATIONS = re.compile(r'(?:@\w+\s*(?:\(\s*"(?:[^"\\]|\\.)*"\s*\))?\s*)*')
_ID_ANNOTATION = re.compile(r'@id\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)')


class PolicyLoadError(ValueError):
    """A policy directory that cannot be used: names the file and, where known, the position."""

    def __init__(self, message: str, path: Path | None = None, line: int = 0, column: int = 0):
        where = ""
        if path is not None:
            where = str(path)
            if line:
                where += f":{line}:{column}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line
        self.column = column


@dataclass(frozen=True)
class _Statement:
    path: Path
    line: int
    column: int
    text: str
    policy_id: str = ""


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def split_statements(text: str) -> list[tuple[int, str]]:
    """The top-level statements of a Cedar policy file, each with the offset where it starts
    (its first annotation or keyword): text up to each ``;`` outside strings, comments and
    brackets.  A trailing part without ``;`` is returned too (so its parse error is reported)."""
    out: list[tuple[int, str]] = []
    depth = 0
    start = -1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if start < 0 and not ch.isspace():
            start = i
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ";" and depth <= 0:
            out.append((start, text[start : i + 1]))
            start, depth = -1, 0
        i += 1
    if start >= 0:
        out.append((start, text[start:]))
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"cannot read: {exc}", path) from exc


def _schema_error(path: Path, text: str, message: str) -> PolicyLoadError:
    # cedarpy reports schema errors without a position: point at the first line naming the
    # offending word when the message quotes one ("failed to resolve type: Strin").
    line = col = 0
    words = re.findall(r"`([^`]+)`|:\s*(\S+)\s*$", message)
    for quoted, tail in words:
        word = quoted or tail
        idx = text.find(word)
        if word and idx >= 0:
            line, col = _position(text, idx)
            break
    return PolicyLoadError(f"schema error: {message}", path, line, col)


@dataclass(frozen=True)
class Evaluation:
    """One Cedar evaluation of a decision (for ``policy explain``)."""

    target: str  # "customers" (table) or "customers.mobile" (column)
    action: str
    allowed: bool
    policy_ids: list[str]
    errors: list[str]


class PolicyEngine:
    """Loaded, validated policies; :meth:`decide` answers requests."""

    def __init__(self, directory: Path, statements: Sequence[_Statement], schema_text: str) -> None:
        self.directory = directory
        self.statements = list(statements)
        self._schema = cedarpy.Schema.from_str(schema_text)
        self._policies = cedarpy.PolicySet.from_str("\n".join(s.text for s in statements))
        # Cedar names the policies of a set policy0, policy1, ... in text order.
        self._ids = {f"policy{i}": s.policy_id for i, s in enumerate(statements)}
        self._cache: dict[tuple[object, ...], Decision] = {}
        self._lock = threading.Lock()

    @property
    def policy_ids(self) -> list[str]:
        return [s.policy_id for s in self.statements]

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path | None = None) -> PolicyEngine:
        """The policies of ``directory`` (None: the shipped defaults), validated against its
        schema.  Raises :class:`PolicyLoadError` naming the file and position of any problem."""
        root = DEFAULT_POLICY_DIR if directory is None else Path(directory)
        if not root.is_dir():
            raise PolicyLoadError("not a policy directory", root)
        schemas = sorted(root.glob("*.cedarschema"))
        if len(schemas) != 1:
            raise PolicyLoadError(
                f"a policy directory needs exactly one *.cedarschema file, found {len(schemas)}",
                root,
            )
        schema_path = schemas[0]
        schema_text = _read(schema_path)
        try:
            cedarpy.Schema.from_str(schema_text)
        except ValueError as exc:
            raise _schema_error(schema_path, schema_text, str(exc)) from exc
        files = sorted(root.glob("*.cedar"))
        if not files:
            raise PolicyLoadError("no *.cedar policy files", root)
        statements: list[_Statement] = []
        seen: dict[str, _Statement] = {}
        for path in files:
            text = _read(path)
            for offset, stmt in split_statements(text):
                line, col = _position(text, offset)
                try:
                    cedarpy.PolicySet.from_str(stmt)
                except ValueError as exc:
                    raise PolicyLoadError(f"policy parse error: {exc}", path, line, col) from exc
                head = _ANNOTATIONS.match(stmt)
                found = _ID_ANNOTATION.search(head.group(0) if head else "")
                if found is None:
                    raise PolicyLoadError(
                        'policy has no @id("...") annotation (decisions name their policies)',
                        path,
                        line,
                        col,
                    )
                pid = found.group(1)
                if pid in seen:
                    first = seen[pid]
                    raise PolicyLoadError(
                        f"duplicate policy id {pid!r} (first at {first.path.name}:{first.line})",
                        path,
                        line,
                        col,
                    )
                statement = _Statement(path, line, col, stmt, pid)
                seen[pid] = statement
                statements.append(statement)
        combined = "\n".join(s.text for s in statements)
        result = cedarpy.validate_policies(combined, schema_text)
        if not result.validation_passed:
            err = result.errors[0]
            idx = _policy_index(err.policy_id)
            if idx is not None and idx < len(statements):
                s = statements[idx]
                message = err.error.replace(f"`{err.policy_id}`", f"`{s.policy_id}`")
                raise PolicyLoadError(f"policy does not match the schema: {message}", s.path,
                                      s.line, s.column)  # fmt: skip
            raise PolicyLoadError(f"policies do not match the schema: {err.error}", root)
        return cls(root, statements, schema_text)

    # -- deciding --------------------------------------------------------------------------

    def decide(self, request: AccessRequest, catalog: Catalog) -> Decision:
        """The decision for ``request``; never raises (any failure is a refusal naming it).

        Decisions are cached by everything the policies can see (the principal's attributes,
        the request's fields, the ticket as present/checked, the number of customers, the
        catalogue object); each call gets its own copy.
        """
        try:
            key = _cache_key(request, catalog)
            cached = self._cache.get(key)
            if cached is None:
                cached = self._decide(request, catalog)
                with self._lock:
                    if len(self._cache) >= _CACHE_SIZE:
                        self._cache.clear()
                    self._cache[key] = cached
            return _copy(cached)
        except (UnknownTable, UnknownColumn) as exc:
            return Decision.deny(f"denied: {exc}", request.columns)
        except Exception as exc:  # fail closed on anything else
            return Decision.deny(
                f"denied: policy evaluation failed: {type(exc).__name__}: {exc}",
                request.columns,
            )

    def explain(self, request: AccessRequest, catalog: Catalog) -> list[Evaluation]:
        """Every Cedar evaluation behind the decision, with the policies that decided each."""
        table = catalog.table(request.table)
        columns = [table.column(c) for c in dict.fromkeys(request.columns)]
        targets, results = self._evaluate(request, table, [c.name for c in columns])
        return [
            Evaluation(target, action, r.allowed, self._names(r), list(r.diagnostics.errors))
            for (target, action), r in zip(targets, results, strict=True)
        ]

    def _decide(self, request: AccessRequest, catalog: Catalog) -> Decision:
        table = catalog.table(request.table)
        requested = list(dict.fromkeys(request.columns))
        names = [table.column(c).name for c in requested]
        _targets, results = self._evaluate(request, table, names)
        errors = [e for r in results for e in r.diagnostics.errors]
        if errors:
            return Decision.deny(f"denied: policy evaluation error: {errors[0]}", request.columns)
        access, regions = results[0], results[1]
        purpose = request.purpose
        if not access.allowed:
            forbids = self._names(access)
            if forbids:
                why = f"forbidden by {', '.join(forbids)}"
            else:
                p = request.principal
                why = (
                    f"no policy permits role {role_id(p.role)!r} of department "
                    f"{department_id(p.department)!r} to {request.action} table {table.name!r} "
                    f"for purpose {purpose!r}"
                )
            d = Decision.deny(f"denied: {why}", request.columns)
            return Decision(False, d.reason, forbids, d.treatments)
        policy_ids: list[str] = list(self._names(access))
        row_filter: dict[str, str] | None = None
        if regions.allowed:
            policy_ids += self._names(regions)
        else:
            row_filter = {"region": request.principal.region}
        treatments: dict[str, Treatment] = {}
        per_column = len(COLUMN_ACTIONS)
        for i, name in enumerate(requested):
            chosen = Treatment.DENIED
            for k, (_action, treatment) in enumerate(COLUMN_ACTIONS):
                r = results[2 + i * per_column + k]
                # A permit names the policies that allowed it; a refusal of a stronger treatment
                # names the forbids that stopped it (none when nothing permitted it).
                policy_ids += self._names(r)
                if r.allowed:
                    chosen = treatment
                    break
            treatments[name] = chosen
        policy_ids = list(dict.fromkeys(policy_ids))
        denied = [c for c, t in treatments.items() if t is Treatment.DENIED]
        reason = f"{purpose} access to {table.name} permitted by {', '.join(self._names(access))}"
        if row_filter is not None:
            reason += f"; rows of region {request.principal.region!r} only"
        if denied:
            reason += f"; columns denied: {', '.join(denied)}"
        return Decision(True, reason, policy_ids, treatments, row_filter)

    def _names(self, result: cedarpy.AuthzResult) -> list[str]:
        return [self._ids.get(r, r) for r in sorted(result.diagnostics.reasons, key=_sort_key)]

    def _evaluate(
        self, request: AccessRequest, table: TableInfo, columns: Sequence[str]
    ) -> tuple[list[tuple[str, str]], list[cedarpy.AuthzResult]]:
        p = request.principal
        principal_uid = {"type": "Employee", "id": p.person_id}
        table_uid = {"type": "Table", "id": table.name}
        count = -1 if request.customer_ids is None else len(set(request.customer_ids))
        context = {
            "purpose": request.purpose,
            "request_action": request.action,
            "has_ticket": bool(request.ticket),
            "ticket_checked": bool(request.ticket) and request.ticket_checked,
            "customer_count": count,
        }
        entities: list[dict[str, Any]] = [
            _principal_entity(p),
            {
                "uid": table_uid,
                "attrs": {"name": table.name, "customer_data": table.customer_key is not None},
                "parents": [],
            },
        ]
        targets: list[tuple[str, str]] = []
        requests: list[dict[str, Any]] = []
        for action in _TABLE_ACTIONS:
            targets.append((table.name, action))
            requests.append(_request(principal_uid, action, table_uid, context))
        for name in columns:
            info = table.column(name)
            uid = {"type": "Column", "id": f"{table.name}.{name}"}
            entities.append(
                {
                    "uid": uid,
                    "attrs": {
                        "table": table.name,
                        "name": name,
                        "data_classes": list(info.data_classes),
                        "sensitivity": info.sensitivity,
                    },
                    "parents": [table_uid],
                }
            )
            for action, _t in COLUMN_ACTIONS:
                targets.append((uid["id"], action))
                requests.append(_request(principal_uid, action, uid, context))
        results = cedarpy.is_authorized_batch(requests, self._policies, entities, self._schema)
        if len(results) != len(requests):
            raise RuntimeError(f"cedar answered {len(results)} of {len(requests)} requests")
        return targets, results


_CACHE_SIZE = 10_000


def _cache_key(request: AccessRequest, catalog: Catalog) -> tuple[object, ...]:
    p = request.principal
    ids = request.customer_ids
    return (
        catalog,
        p.person_id,
        p.role,
        p.department,
        p.region,
        p.kind,
        request.action,
        request.purpose,
        request.table,
        request.columns,
        bool(request.ticket),
        request.ticket_checked,
        -1 if ids is None else len(set(ids)),
    )


def _copy(d: Decision) -> Decision:
    return Decision(
        d.allowed,
        d.reason,
        list(d.policy_ids),
        dict(d.treatments),
        None if d.row_filter is None else dict(d.row_filter),
    )


def _policy_index(policy_id: str) -> int | None:
    m = re.fullmatch(r"policy(\d+)", policy_id)
    return int(m.group(1)) if m else None


def _sort_key(policy_id: str) -> tuple[int, str]:
    idx = _policy_index(policy_id)
    return (idx if idx is not None else 1 << 30, policy_id)


def _principal_entity(p: Principal) -> dict[str, Any]:
    return {
        "uid": {"type": "Employee", "id": p.person_id},
        "attrs": {
            "person_id": p.person_id,
            "role": role_id(p.role),
            "department": department_id(p.department),
            "region": p.region,
            "kind": p.kind,
        },
        "parents": [],
    }


def _request(
    principal: dict[str, str], action: str, resource: dict[str, str], context: dict[str, Any]
) -> dict[str, Any]:
    return {
        "principal": principal,
        "action": {"type": "Action", "id": action},
        "resource": resource,
        "context": context,
    }


# -- versioned policy test cases ----------------------------------------------------------------


class CaseError(ValueError):
    """A test case file that cannot be read: names the file, the case and the field."""


@dataclass(frozen=True)
class PolicyCase:
    """One test case: a request and what the policies must answer.

    ``treatments`` lists expected treatments of some columns; ``policy_ids`` ids that must be
    among the decision's; ``row_filter`` is checked only when the case states it (null: none).
    """

    file: str
    name: str
    request: AccessRequest
    allowed: bool
    treatments: dict[str, Treatment] = field(default_factory=dict)
    policy_ids: tuple[str, ...] = ()
    row_filter: dict[str, str] | None = None
    checks_row_filter: bool = False


@dataclass(frozen=True)
class CaseResult:
    case: PolicyCase
    passed: bool
    problems: list[str]
    decision: Decision


def _case(raw: Any, where: str, file: str) -> PolicyCase:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: a case must be an object")
    try:
        name = str(raw["name"])
        p = raw["principal"]
        r = raw["request"]
        expect = raw["expect"]
    except KeyError as exc:
        raise CaseError(f"{where}: missing field {exc.args[0]!r}") from exc
    where = f"{where} ({name!r})"
    try:
        principal = Principal(
            person_id=str(p.get("person_id", "test")),
            role=str(p["role"]),
            department=str(p["department"]),
            region=str(p.get("region", "")),
            manager_id=p.get("manager_id"),
            kind=p.get("kind", "person"),
        )
        ids = r.get("customer_ids")
        request = AccessRequest(
            principal=principal,
            action=r.get("action", "read"),
            purpose=str(r["purpose"]),
            table=str(r["table"]),
            columns=tuple(str(c) for c in r.get("columns", [])),
            ticket=r.get("ticket"),
            customer_ids=None if ids is None else tuple(int(i) for i in ids),
            ticket_checked=bool(r.get("ticket_checked", False)),
        )
        treatments = {str(c): Treatment(t) for c, t in expect.get("treatments", {}).items()}
        allowed = expect["allowed"]
        if not isinstance(allowed, bool):
            raise CaseError(f"{where}: expect.allowed must be true or false")
    except KeyError as exc:
        raise CaseError(f"{where}: missing field {exc.args[0]!r}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, CaseError):
            raise
        raise CaseError(f"{where}: {exc}") from exc
    return PolicyCase(
        file=file,
        name=name,
        request=request,
        allowed=allowed,
        treatments=treatments,
        policy_ids=tuple(expect.get("policy_ids", ())),
        row_filter=expect.get("row_filter"),
        checks_row_filter="row_filter" in expect,
    )


def load_cases(paths: Iterable[Path]) -> list[PolicyCase]:
    """Cases from JSON files (or directories of them): each file is a list of cases or an object
    with a ``cases`` list.  A case is ``{"name", "principal": {role, department, region, kind},
    "request": {action, purpose, table, columns, ticket, customer_ids, ticket_checked},
    "expect": {allowed, treatments: {column: clear|pseudonymised|masked|denied}, policy_ids,
    row_filter}}``.  Raises :class:`CaseError` naming the file and case."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    cases: list[PolicyCase] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CaseError(f"{f}: cannot read: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise CaseError(f"{f}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
        items = data.get("cases") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise CaseError(f"{f}: expected a list of cases or {{'cases': [...]}}")
        cases += [_case(c, f"{f}: case {i + 1}", f.name) for i, c in enumerate(items)]
    return cases


def unexercised(engine: PolicyEngine, results: Iterable[CaseResult]) -> list[str]:
    """Ids of the engine's policies that no case's decision names (untested policies)."""
    used = {p for r in results for p in r.decision.policy_ids}
    return [p for p in engine.policy_ids if p not in used]


def run_cases(
    engine: PolicyEngine, cases: Iterable[PolicyCase], catalog: Catalog
) -> list[CaseResult]:
    """Decide every case and compare with what it expects."""
    out: list[CaseResult] = []
    for case in cases:
        d = engine.decide(case.request, catalog)
        problems: list[str] = []
        if d.allowed != case.allowed:
            problems.append(f"allowed: expected {case.allowed}, got {d.allowed} ({d.reason})")
        for col, want in case.treatments.items():
            got = d.treatment(col)
            if got is not want:
                problems.append(f"{col}: expected {want}, got {got}")
        missing = [p for p in case.policy_ids if p not in d.policy_ids]
        if missing:
            problems.append(f"policies not among the decision's: {', '.join(missing)}")
        if case.checks_row_filter and d.row_filter != case.row_filter:
            problems.append(f"row_filter: expected {case.row_filter}, got {d.row_filter}")
        out.append(CaseResult(case, not problems, problems, d))
    return out
