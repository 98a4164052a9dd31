"""Property: whatever treatments a decision hands out, the record path never releases a clear
value for a column it must mask or pseudonymise, and never a column it must deny."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from leakwarden.audit.ledger import Ledger
from leakwarden.demo.build import build_company
from leakwarden.demo.schema import customers
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.consent import PermissiveConsent
from leakwarden.gateway.decision import AccessRequest, Decision, Principal, Treatment
from leakwarden.gateway.quota import SqlQuota
from leakwarden.gateway.records import CallContext, RecordService
from leakwarden.gateway.settings import GatewaySettings, QuotaLimits
from leakwarden.store import db

COLUMNS = tuple(Catalog.from_demo().table("customers").columns)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RecordService, list]]:
    d: Path = tmp_path_factory.mktemp("prop")
    company = f"sqlite:///{d}/company.db"
    store = f"sqlite:///{d}/store.db"
    build_company(company, customers=120, seed=9)
    ledger = Ledger.open(store)
    holder: list[dict[str, Treatment]] = [{}]

    def decide(req: AccessRequest) -> Decision:  # test-only: treatments drawn by hypothesis
        return Decision(True, "test", ["test.drawn"], dict(holder[0]))

    limits = QuotaLimits(day=10**6, week=10**6, vip_day=10**6, vip_week=10**6)
    service = RecordService(
        GatewaySettings(company_url=company, store_url=store),
        company=db.make_engine(company),
        ledger=ledger,
        quota=SqlQuota.for_store(store, limits),
        decide=decide,
        catalog=Catalog.from_demo(),
        consent=PermissiveConsent(),
    )
    yield company, service, holder
    ledger.close()


def _as_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return str(v)


treatments = st.sampled_from(list(Treatment))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    customer=st.integers(min_value=1, max_value=120),
    drawn=st.fixed_dictionaries({c: treatments for c in COLUMNS}),
)
def test_no_clear_value_leaves_for_masked_or_pseudonymised_columns(
    setup: Any, customer: int, drawn: dict[str, Treatment]
) -> None:
    company, service, holder = setup
    holder[0] = drawn
    ctx = CallContext(principal=Principal("900", "analyst", "analytics"), purpose="analytics")
    released = service.customer(ctx, customer)
    with create_engine(company).connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == customer)).one()
    clear = {k: _as_text(v) for k, v in row._mapping.items()}
    rec = released.records[0]
    for column, treatment in drawn.items():
        if treatment is Treatment.DENIED:
            assert column not in rec
        elif treatment is Treatment.CLEAR:
            assert _as_text(rec[column]) == clear[column]
        elif clear[column]:  # masked or pseudonymised, and there was something to hide
            assert rec[column] != clear[column], (column, treatment)
            if len(clear[column]) >= 4:  # a short value (M, F) may occur in a pseudonym by chance
                assert clear[column] not in str(rec[column]), (column, treatment)
