"""The shared world of the gateway's end-to-end tests: a demo company (built once per module by
the test file's own ``company`` fixture), a freshly migrated store, API tokens, and readers of the
company database and of the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from leakwarden.gateway.app import create_app
from leakwarden.gateway.decision import AccessRequest, Decision, Treatment
from leakwarden.gateway.identity import TokenStore
from leakwarden.gateway.settings import GatewaySettings
from leakwarden.store import db

CONTACT = frozenset({"name", "mobile", "email", "address", "id_card", "birth_date"})


def customers_contact_masked(request: AccessRequest) -> Decision:
    """A stand-in for the policy engine: every column clear but the customers' personal ones
    (:data:`CONTACT`), which are masked."""
    treatments = {
        c: Treatment.MASKED if request.table == "customers" and c in CONTACT else Treatment.CLEAR
        for c in request.columns
    }
    return Decision(True, "test: contact masked", ["test.masked"], treatments)


@dataclass
class GatewayWorld:
    company: str
    store: str
    tokens: TokenStore
    tmp: Path

    def settings(self, **kw: Any) -> GatewaySettings:
        return GatewaySettings(company_url=self.company, store_url=self.store, **kw)

    def client(self, settings: GatewaySettings | None = None, **kw: Any) -> TestClient:
        return TestClient(create_app(settings or self.settings(), **kw))

    def token(self, employee: int, ttl: timedelta = timedelta(hours=1)) -> dict[str, str]:
        issued = self.tokens.issue(employee_id=employee, ttl=ttl)
        return {"Authorization": f"Bearer {issued.token}"}

    def q(self, sql: str, **params: Any) -> list[Any]:
        with create_engine(self.company).connect() as conn:
            return list(conn.execute(text(sql), params))

    def events(self) -> list[dict[str, Any]]:
        with create_engine(self.store).connect() as conn:
            rows = conn.execute(text("SELECT event FROM audit_log ORDER BY idx")).scalars()
            return [json.loads(r) for r in rows]

    def audit_text(self) -> str:
        with create_engine(self.store).connect() as conn:
            return "\n".join(conn.execute(text("SELECT event FROM audit_log")).scalars())


@contextmanager
def gateway_world(
    company: str, tmp_path: Path, cls: type[GatewayWorld] = GatewayWorld
) -> Iterator[GatewayWorld]:
    """A world over ``company`` with a new store in ``tmp_path``."""
    store = f"sqlite:///{tmp_path}/store.db"
    engine = db.make_engine(store)
    db.upgrade(engine)
    try:
        yield cls(company, store, TokenStore(engine), tmp_path)
    finally:
        engine.dispose()
