"""trace against copies made by the real export workflow (gateway/exports.py ExportService):
request, approval by a director, execution, the encrypted file decrypted and partly leaked.
Exports never carry clear PI: the analytics copy has pseudonymised mobiles (matched with the
gateway's pseudonym key), the billing copy masked names and resident IDs (too weak to name
customers; its lines, leaked verbatim, equal the registry's keyed row hashes)."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from leakwarden.audit.ledger import Ledger
from leakwarden.demo.build import build_company
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.decision import AccessRequest, Decision, Principal
from leakwarden.gateway.exports import ExportConfig, ExportService, decrypt_export
from leakwarden.gateway.policy import PolicyEngine
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.store import db
from leakwarden.trace.run import run_trace

ANALYST = Principal("101", "analyst", "analytics")
DIRECTOR = Principal("201", "data_director", "analytics")
BILLER = Principal("301", "finance_manager", "finance")
FIN_DIRECTOR = Principal("302", "finance_director", "finance")


def _export(svc: ExportService, who: Principal, approver: Principal, sql: str, purpose: str,
            recipient: str) -> Any:  # fmt: skip
    view = svc.request(who, sql, purpose, None, recipient, timedelta(hours=1))
    if view.needs_approval:
        svc.approve(view.id, approver, "test")
    return svc.execute(view.id, who)


def _rows(view: Any, keys: KeyRing) -> list[list[str]]:
    _, plain = decrypt_export(Path(view.file_path).read_bytes(), keys)
    return list(csv.reader(io.StringIO(plain.decode("utf-8"))))


def test_a_leak_of_a_real_pseudonymised_export_is_traced_to_it(tmp_path: Path) -> None:
    company = f"sqlite:///{tmp_path}/company.db"
    build_company(company, customers=200, seed=17)
    store = f"sqlite:///{tmp_path}/store.db"
    engine = db.make_engine(store)
    db.upgrade(engine)
    ledger = Ledger.open(store)
    keys = KeyRing.open(store, MasterKey.write_file(tmp_path / "master.key"))
    catalog = Catalog.from_demo()
    policies = PolicyEngine.load()
    pkey = b"p" * 32

    def decide(req: AccessRequest) -> Decision:
        return policies.decide(req, catalog)

    company_engine = db.make_engine(company)
    svc = ExportService(
        company=company_engine,
        store=engine,
        ledger=ledger,
        decide=decide,
        catalog=catalog,
        keys=keys,
        pseudonym_key=pkey,
        config=ExportConfig(row_threshold=30, directory=tmp_path / "out"),
    )
    try:
        a = _export(svc, ANALYST, DIRECTOR, "SELECT id, mobile, city FROM customers WHERE id <= 60",
                    "analytics", "partner: A")  # fmt: skip
        b = _export(svc, ANALYST, DIRECTOR,
                    "SELECT id, mobile, city FROM customers WHERE id > 60 AND id <= 120",
                    "analytics", "partner: B")  # fmt: skip
        c = _export(svc, BILLER, FIN_DIRECTOR,
                    "SELECT id, name, id_card FROM customers WHERE id > 120 AND id <= 160",
                    "billing", "partner: C")  # fmt: skip
        rows_a = _rows(a, keys)
        assert rows_a[0] == ["id", "mobile", "city"]
        # the copy holds a canary too (60 customers, density 1 %: one), with an id above the
        # query's 1..60 (the only unused ones); this leak is of real customers only
        real_a = [r for r in rows_a[1:] if int(r[0]) <= 60]
        (canary_a,) = [r for r in rows_a[1:] if int(r[0]) > 60]
        leaked = random.Random(3).sample(real_a, 20)
        # the leaker drops the id column, renames and reorders the rest
        path = tmp_path / "leak_a.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["城市", "联系方式"])
            w.writerows([[r[2], r[1]] for r in leaked])
        result = run_trace(
            path, company=company_engine, store=engine, keys=keys, pseudonym_keys=[(pkey, 1)]
        )
        assert {x.customer_id for x in result.affected} == {int(r[0]) for r in leaked}
        att = result.attribution
        assert att.verdict == "attributed", att.reason
        assert att.named is not None and att.named.copy.export_id == a.export_id
        assert att.named.copy.recipient == "partner: A"
        assert att.named.copy.approvers == [DIRECTOR.person_id]
        # without the pseudonym key nothing matches, and nobody is named
        blind = run_trace(path, company=company_engine, store=engine, keys=keys)
        assert blind.affected == [] and blind.attribution.named is None
        # ... but the copy's canary, registered by the pseudonyms the copy wrote for it, is found
        # without the key and names the copy on its own
        spiked = tmp_path / "leak_a_canary.csv"
        with spiked.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["城市", "联系方式"])
            w.writerows([[r[2], r[1]] for r in [*leaked, canary_a]])
        by_canary = run_trace(spiked, company=company_engine, store=engine, keys=keys)
        assert by_canary.affected == [] and len(by_canary.canary_hits) == 1
        assert by_canary.attribution.named is not None
        assert by_canary.attribution.named.copy.export_id == a.export_id

        # the billing copy: masked names and resident IDs, leaked verbatim
        rows_c = _rows(c, keys)
        assert all("*" in r[1] and "*" in r[2] for r in rows_c[1:])
        path_c = tmp_path / "leak_c.csv"
        sample_c = rows_c[1:26]
        with path_c.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\r\n").writerows(rows_c[:1] + sample_c)
        result_c = run_trace(path_c, company=company_engine, store=engine, keys=keys)
        # a surname and the last four characters of an ID are too weak to name a customer
        assert result_c.affected == []
        att_c = result_c.attribution
        # but the lines are the registered rows of copy C, verbatim: C is named
        assert att_c.verdict == "attributed", att_c.reason
        assert att_c.named is not None and att_c.named.copy.export_id == c.export_id
        assert att_c.named.verbatim_rows == len(sample_c)
        assert att_c.named.copy.recipient == "partner: C"
        assert b.export_id in {e.copy.export_id for e in att_c.copies}
    finally:
        ledger.close()
        keys.close()
        company_engine.dispose()
        engine.dispose()
