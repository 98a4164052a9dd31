"""The gateway's request and decision types: who asks (``Principal``), what for
(``AccessRequest``), and what the policies answered (``Decision``, one ``Treatment`` per column).

Plain frozen dataclasses: they are built on every request and must stay cheap.  Role and
department are the ids of :data:`ROLE_IDS` / :data:`DEPARTMENT_IDS` (the demo company's Chinese
titles map onto them); :meth:`Principal.from_employee` does the mapping for an ``employees`` row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = [
    "ACTIONS",
    "DEPARTMENT_IDS",
    "ROLE_IDS",
    "AccessRequest",
    "Decision",
    "Principal",
    "Treatment",
    "department_id",
    "role_id",
]


class Treatment(StrEnum):
    """What a caller gets of one column, strongest first."""

    CLEAR = "clear"
    PSEUDONYMISED = "pseudonymised"
    MASKED = "masked"
    DENIED = "denied"

    @property
    def rank(self) -> int:
        """Higher is more revealing: CLEAR 3, PSEUDONYMISED 2, MASKED 1, DENIED 0."""
        return _RANK[self]


_RANK = {
    Treatment.CLEAR: 3,
    Treatment.PSEUDONYMISED: 2,
    Treatment.MASKED: 1,
    Treatment.DENIED: 0,
}

# What a request does with the data (the gateway's endpoints); purposes are free strings checked
# by the policies (customer_service, delivery, billing, fraud_review, marketing, analytics, ...).
ACTIONS = ("read", "query", "export", "print_waybill")
Action = Literal["read", "query", "export", "print_waybill"]

# The demo company's job titles (leakwarden.demo.company.DEPARTMENTS, employees.role) -> role ids
# the policies use.  Head / team lead / staff of each department.
ROLE_IDS: Mapping[str, str] = {
    "总经理": "general_manager",
    "客服总监": "cs_director",
    "客服主管": "cs_lead",
    "客服专员": "cs_agent",
    "物流总监": "logistics_director",
    "站点经理": "delivery_station_manager",
    "配送员": "courier",
    "市场总监": "marketing_director",
    "营销经理": "marketing_manager",
    "营销专员": "marketing_specialist",
    "技术总监": "cto",
    "研发经理": "engineering_manager",
    "后端工程师": "engineer",
    "数据总监": "data_director",
    "数据分析主管": "analytics_lead",
    "数据分析师": "analyst",
    "财务总监": "finance_director",
    "财务经理": "finance_manager",
    "会计": "accountant",
    "风控总监": "risk_director",
    "风控经理": "risk_manager",
    "风控专员": "risk_analyst",
    "人力资源总监": "hr_director",
    "招聘经理": "recruiting_manager",
    "人事专员": "hr_specialist",
    "仓储总监": "warehouse_director",
    "仓库主管": "warehouse_lead",
    "仓管员": "warehouse_clerk",
    "法务总监": "legal_director",
    "法务经理": "legal_manager",
    "法务专员": "legal_specialist",
    # Not in the demo company: the security team that investigates leaks.
    "安全工程师": "security_analyst",
}

# Department names of the demo company -> department ids.
DEPARTMENT_IDS: Mapping[str, str] = {
    "总经理办公室": "executive",
    "客服": "customer_service",
    "配送": "delivery",
    "营销": "marketing",
    "技术": "engineering",
    "数据分析": "analytics",
    "财务": "finance",
    "风控": "risk",
    "人力资源": "hr",
    "仓储": "warehouse",
    "法务": "legal",
    "安全": "security",  # not in the demo company
}


def role_id(title: str) -> str:
    """The role id of a job title (a Chinese title of :data:`ROLE_IDS` or already an id);
    unknown titles are returned unchanged, so no policy grants them anything."""
    return ROLE_IDS.get(title, title)


def department_id(name: str) -> str:
    """The department id of a department name (as :func:`role_id`)."""
    return DEPARTMENT_IDS.get(name, name)


@dataclass(frozen=True)
class Principal:
    """Who asks: a person (an employee) or an internal service acting under its own identity."""

    person_id: str
    role: str
    department: str
    region: str = ""
    manager_id: str | None = None
    kind: Literal["person", "service"] = "person"

    @classmethod
    def from_employee(cls, row: Mapping[str, object]) -> Principal:
        """A principal from an ``employees`` row of the demo schema (Chinese titles mapped)."""
        manager = row.get("manager_id")
        return cls(
            person_id=str(row["id"]),
            role=role_id(str(row["role"])),
            department=department_id(str(row["department"])),
            region=str(row.get("region") or ""),
            manager_id=None if manager is None else str(manager),
        )


@dataclass(frozen=True)
class AccessRequest:
    """One request for columns of one table.

    ``ticket_checked`` is set by the caller of the policy engine (the service) only after it has
    checked that ``ticket`` exists, is open, is assigned to the principal and concerns every
    customer in ``customer_ids``; the policies never see an unchecked ticket as a checked one.
    """

    principal: Principal
    action: Action
    purpose: str
    table: str
    columns: tuple[str, ...]
    ticket: str | None = None
    customer_ids: tuple[int, ...] | None = None
    ticket_checked: bool = False

    def __post_init__(self) -> None:
        # Lists are accepted for convenience but stored as tuples (hashable, immutable).
        if not isinstance(self.columns, tuple):
            object.__setattr__(self, "columns", tuple(self.columns))
        if self.customer_ids is not None and not isinstance(self.customer_ids, tuple):
            object.__setattr__(self, "customer_ids", tuple(self.customer_ids))


@dataclass(frozen=True)
class Decision:
    """The answer for one request.

    ``allowed`` is the table-level answer; when it is False every column is DENIED.  When it is
    True, columns may still be DENIED one by one (a query that needs such a column must be
    refused by its caller).  ``row_filter`` restricts the rows, e.g. ``{"region": "浙江杭州"}``:
    only customers of the principal's region (province + city as in ``employees.region``).
    ``policy_ids`` are the ``@id`` annotations of the Cedar policies that made the decision.
    """

    allowed: bool
    reason: str
    policy_ids: list[str] = field(default_factory=list)
    treatments: dict[str, Treatment] = field(default_factory=dict)
    row_filter: dict[str, str] | None = None

    def treatment(self, column: str) -> Treatment:
        """The column's treatment; DENIED for a column the decision does not name."""
        if not self.allowed:
            return Treatment.DENIED
        return self.treatments.get(column, Treatment.DENIED)

    @classmethod
    def deny(cls, reason: str, columns: tuple[str, ...] | list[str] = ()) -> Decision:
        """A refusal: every column DENIED."""
        return cls(
            allowed=False,
            reason=reason,
            treatments=dict.fromkeys(columns, Treatment.DENIED),
        )
