"""Fingerprinted export copies (trace/fingerprint.py, canaries.py, variants.py) made by the real
ExportService, traced back by their canaries and keyed row order; the canary guard's alert.

The shipped policies never export clear identifiers (analytics gets pseudonyms, billing masks);
a test policy that releases columns in clear stands for a future clear export, so that leaked
rows can be matched by their plain values; the pseudonymised copy is covered too."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import create_engine, text
from stdnum.cn import ric

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import Ledger
from leakwarden.demo.build import build_company
from leakwarden.demo.values import Person, Values
from leakwarden.gateway.canary_guard import CanaryGuard
from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.decision import AccessRequest, Decision, Principal, Treatment
from leakwarden.gateway.exports import ExportConfig, ExportService, decrypt_export
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.store import db
from leakwarden.trace.canaries import column_kinds, make_canaries
from leakwarden.trace.fingerprint import FingerprintConfig, fingerprint_rows
from leakwarden.trace.report import print_tables, render_html, to_json
from leakwarden.trace.run import run_trace
from leakwarden.trace.variants import apply_formats, observed_formats

ANALYST = Principal("101", "analyst", "analytics")
DIRECTOR = Principal("201", "data_director", "analytics")
COLUMNS = "id, name, gender, id_card, mobile, email, birth_date, address, city"


def clear_policy(req: AccessRequest) -> Decision:
    """Test double: every column released in clear."""
    return Decision(True, "test: clear", ["test.clear"], {c: Treatment.CLEAR for c in req.columns})


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('company')}/company.db"
    build_company(url, customers=300, seed=11)
    return url


@dataclass
class World:
    company: str
    svc: ExportService
    store: Any
    keys: KeyRing
    ledger: Ledger
    tmp: Path

    def export(self, sql: str, purpose: str, recipient: str) -> Any:
        view = self.svc.request(ANALYST, sql, purpose, None, recipient, timedelta(hours=1))
        if view.needs_approval:
            self.svc.approve(view.id, DIRECTOR, "test")
        return self.svc.execute(view.id, ANALYST)

    def rows(self, view: Any) -> list[list[str]]:
        _, plain = decrypt_export(Path(view.file_path).read_bytes(), self.keys)
        return list(csv.reader(io.StringIO(plain.decode("utf-8"))))

    def real_mobiles(self) -> set[str]:
        with create_engine(self.company).connect() as conn:
            return set(conn.execute(text("SELECT mobile FROM customers")).scalars())

    def events(self) -> list[AuditEvent]:
        with self.store.connect() as conn:
            rows = conn.execute(text("SELECT event FROM audit_log ORDER BY idx")).scalars()
            return [AuditEvent.from_ecs(json.loads(r)) for r in rows]


@pytest.fixture
def world(company: str, tmp_path: Path) -> Iterator[World]:
    store = f"sqlite:///{tmp_path}/store.db"
    engine = db.make_engine(store)
    db.upgrade(engine)
    ledger = Ledger.open(store)
    keys = KeyRing.open(store, MasterKey.write_file(tmp_path / "master.key"))
    svc = ExportService(
        company=db.make_engine(company),
        store=engine,
        ledger=ledger,
        decide=clear_policy,
        catalog=Catalog.from_demo(),
        keys=keys,
        pseudonym_key=b"p" * 32,
        config=ExportConfig(
            row_threshold=30,
            directory=tmp_path / "out",
            fingerprint=FingerprintConfig(canary_density=0.05),
        ),
    )
    yield World(company, svc, engine, keys, ledger, tmp_path)
    ledger.close()
    keys.close()
    engine.dispose()


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _canary_rows(world: World, rows: list[list[str]], header: list[str]) -> list[list[str]]:
    """Rows of a copy whose mobile belongs to no customer of the company (the canaries), read
    back from the file with the copy's formatting undone."""
    half = str.maketrans("０１２３４５６７８９", "0123456789")

    def digits(text: str) -> str:
        return "".join(ch for ch in text.translate(half) if ch.isdigit())

    real = {digits(m) for m in world.real_mobiles()}
    pos = header.index("mobile")
    # +86 prefixes (a phone format variant) dropped
    return [r for r in rows if digits(r[pos]).removeprefix("86")[-11:] not in real
            and digits(r[pos]) not in real]  # fmt: skip


def test_a_canary_names_the_copy_where_shared_customers_cannot(world: World) -> None:
    a = world.export(f"SELECT {COLUMNS} FROM customers WHERE id <= 200", "analytics", "A")
    b = world.export(f"SELECT {COLUMNS} FROM customers WHERE id > 100", "analytics", "B")
    rows_a = world.rows(a)
    header, body = rows_a[0], rows_a[1:]
    canaries = _canary_rows(world, body, header)
    # 200 customers at density 0.05: 10 canaries, one row each (a customers export)
    assert len(canaries) == 10 and len(body) == 210
    assert a.rows == 210 and a.customers == 200
    with world.store.connect() as conn:
        registered = conn.execute(
            text("SELECT COUNT(*) FROM trace_canaries WHERE export_id = :x"), {"x": a.export_id}
        ).scalar_one()
    assert registered == 10
    # the leaker takes 15 customers that both A and B hold, plus two canary rows, and
    # shuffles them: the order tells nothing
    ids = [int(r[0]) for r in body if r not in canaries]
    shared = [r for r in body if r not in canaries and 100 < int(r[0]) <= 200]
    rng = random.Random(4)
    leak = rng.sample(shared, 15)
    plain = _write(world.tmp / "plain.csv", header, leak)
    # two Chinese canaries (their mobiles show the copy's phone format; a US number would not)
    zh = [r for r in canaries if not r[header.index("name")].isascii()]
    with_canaries = leak + zh[:2]
    rng.shuffle(with_canaries)
    spiked = _write(world.tmp / "spiked.csv", header, with_canaries)
    base = dict(company=db.make_engine(world.company), store=world.store, keys=world.keys)

    without = run_trace(plain, **base)
    assert without.attribution.verdict == "undecided", without.attribution.reason
    assert without.attribution.named is None

    result = run_trace(spiked, **base)
    att = result.attribution
    assert att.verdict == "attributed", att.reason
    assert att.named is not None and att.named.copy.export_id == a.export_id
    assert att.named.fingerprint.canaries_strong == 2
    # the canary rows, leaked verbatim, show the copy's phone and digit formats
    with world.store.connect() as conn:
        params = json.loads(
            conn.execute(
                text("SELECT fingerprint_params FROM exports WHERE id = :x"), {"x": a.export_id}
            ).scalar_one()
        )
    seen = att.named.fingerprint.formats_seen
    assert seen["phone"] == params["format"]["phone"]
    assert seen["digits"] == params["format"]["digits"]
    assert att.named.fingerprint.formats_expected == params["format"]
    assert att.named.innocence_bound <= 1e-6
    # the canaries are not affected customers, nor unexplained rows
    assert {x.customer_id for x in result.affected} == {int(r[0]) for r in leak}
    assert len({h.row for h in result.canary_hits}) == 2 and result.unexplained_rows == []
    assert set(ids) == set(range(1, 201))
    report = to_json(result)
    top = report["attribution"]["copies"][0]
    assert top["fingerprint"]["canaries_found"] == 2
    assert top["fingerprint"]["canaries_registered"] == 10
    assert len(report["canary_rows"]) == 2
    assert "canary customer(s) of this copy found" in " ".join(top["evidence"])
    assert "Canary rows" in render_html(result)
    out = io.StringIO()
    print_tables(result, Console(file=out, width=200))
    assert "canaries" in out.getvalue() and "2 canary rows" in out.getvalue()
    assert b.export_id in {c["export_id"] for c in report["attribution"]["copies"]}


def test_the_keyed_row_order_names_the_copy(world: World) -> None:
    a = world.export(f"SELECT {COLUMNS} FROM customers WHERE id <= 200", "analytics", "A")
    world.export(f"SELECT {COLUMNS} FROM customers WHERE id > 100", "analytics", "B")
    rows_a = world.rows(a)
    header, body = rows_a[0], rows_a[1:]
    canaries = _canary_rows(world, body, header)
    shared = [r for r in body if r not in canaries and 100 < int(r[0]) <= 200]
    # 30 shared customers, in the file's order (a subset keeps it), no canary
    keep = sorted(random.Random(5).sample(range(len(shared)), 30))
    in_order = [shared[i] for i in keep]
    base = dict(company=db.make_engine(world.company), store=world.store, keys=world.keys)
    result = run_trace(_write(world.tmp / "ordered.csv", header, in_order), **base)
    att = result.attribution
    assert att.verdict == "attributed", att.reason
    assert att.named is not None and att.named.copy.export_id == a.export_id
    assert (att.named.fingerprint.ascents, att.named.fingerprint.pairs) == (29, 29)
    # the same rows sorted by customer id: no order evidence, and nobody named
    by_id = sorted(in_order, key=lambda r: int(r[0]))
    shuffled = run_trace(_write(world.tmp / "by_id.csv", header, by_id), **base)
    assert shuffled.attribution.verdict == "undecided", shuffled.attribution.reason


def test_operational_exports_get_no_canaries_nor_formats(world: World) -> None:
    sql = f"SELECT {COLUMNS} FROM customers WHERE id <= 200"
    d = world.export(sql, "delivery", "courier")
    rows = world.rows(d)
    header, body = rows[0], rows[1:]
    assert len(body) == 200 and _canary_rows(world, body, header) == []
    with create_engine(world.company).connect() as conn:
        expected = {tuple("" if v is None else str(v) for v in r) for r in conn.execute(text(sql))}
    # the rows are the query's, unchanged (only their order is keyed)
    assert {tuple(r) for r in body} == expected
    with world.store.connect() as conn:
        params = json.loads(
            conn.execute(
                text("SELECT fingerprint_params FROM exports WHERE id = :x"), {"x": d.export_id}
            ).scalar_one()
        )
        n = conn.execute(text("SELECT COUNT(*) FROM trace_canaries")).scalar_one()
    assert params["operational"] is True and params["canaries"] is None
    assert params["format"] == {} and params["order"] == "customer" and n == 0


def test_a_canary_contact_used_at_the_gateway_is_an_alert(world: World) -> None:
    a = world.export(f"SELECT {COLUMNS} FROM customers WHERE id <= 200", "analytics", "A")
    rows = world.rows(a)
    header, body = rows[0], rows[1:]
    canary = _canary_rows(world, body, header)[0]
    real = next(r for r in body if r not in _canary_rows(world, body, header))
    guard = CanaryGuard(world.store, world.keys, world.ledger)
    mobile, email = canary[header.index("mobile")], canary[header.index("email")]
    before = len(world.events())
    assert not guard.is_canary_contact(
        real[header.index("mobile")], actor="7", purpose="delivery", route="/customers/by-phone"
    )
    assert len(world.events()) == before  # a real customer's phone: no alert
    assert guard.is_canary_contact(
        mobile, actor="7", purpose="delivery", route="/customers/by-phone"
    )
    events = world.events()[before:]
    assert len(events) == 1
    ev = events[0]
    assert ev.action == "gateway.canary.contact" and ev.outcome == "denied"
    assert ev.export_id == a.export_id and ev.purpose == "delivery"
    assert mobile not in ev.model_dump_json()  # ids, never the value
    sends = [("real", real[header.index("email")]), ("canary", email)]
    kept = guard.filter(sends, lambda s: [s[1]], actor="7", purpose="marketing", route="send")
    assert kept == [sends[0]]


def test_a_message_to_a_canary_reported_by_the_provider_hook_is_an_alert(world: World) -> None:
    """POST /canaries/contacts (an SMS or mail provider's hook): a canary's number is an alert
    naming its copy; any other number gets the same answer and no event (no oracle, no value)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from leakwarden.gateway.exports import _principal, export_router

    a = world.export(f"SELECT {COLUMNS} FROM customers WHERE id <= 200", "analytics", "A")
    rows = world.rows(a)
    header, body = rows[0], rows[1:]
    canary = _canary_rows(world, body, header)[0]
    real = next(r for r in body if r not in _canary_rows(world, body, header))
    app = FastAPI()
    app.include_router(export_router)
    app.state.canary_guard = CanaryGuard(world.store, world.keys, world.ledger)
    app.dependency_overrides[_principal] = lambda: Principal(
        "sms-gateway", "messaging", "it", kind="service"
    )
    client = TestClient(app)
    before = len(world.events())
    seen = client.post(
        "/canaries/contacts", json={"contact": real[header.index("mobile")], "channel": "sms"}
    )
    assert seen.status_code == 202 and len(world.events()) == before
    mobile = canary[header.index("mobile")]
    hit = client.post("/canaries/contacts", json={"contact": mobile, "channel": "sms"})
    assert hit.status_code == 202 and hit.json() == seen.json()
    [event] = world.events()[before:]
    assert event.action == "gateway.canary.contact" and event.export_id == a.export_id
    assert event.actor == "sms-gateway" and event.purpose == "canary-contact:sms"
    assert mobile not in event.model_dump_json()


def test_a_pseudonymised_copy_with_canaries_is_traced_by_them(world: World) -> None:
    """Analytics exports under the shipped policies carry pseudonyms: the canaries' pseudonyms
    are registered, so a pseudonymised canary row is a strong hit on its own."""
    from leakwarden.gateway.policy import PolicyEngine

    policies, catalog = PolicyEngine.load(), Catalog.from_demo()
    world.svc.decide = lambda req: policies.decide(req, catalog)
    a = world.export("SELECT id, name, mobile, city FROM customers WHERE id <= 200", "analytics",
                     "A")  # fmt: skip
    rows = world.rows(a)
    header, body = rows[0], rows[1:]
    assert all(r[2].startswith("cn_mobile:1:") for r in body)
    result = run_trace(
        _write(world.tmp / "p.csv", header, body[:40]),
        company=db.make_engine(world.company),
        store=world.store,
        keys=world.keys,
        pseudonym_keys=[(b"p" * 32, 1)],
    )
    found = {h.canary_id for h in result.canary_hits if h.strong}
    # the first 40 rows of the file hold as many canaries as the registry says are there
    with world.store.connect() as conn:
        n_canaries = conn.execute(text("SELECT COUNT(*) FROM trace_canaries")).scalar_one()
    assert n_canaries == 10
    real_ids = {x.customer_id for x in result.affected}
    assert len(real_ids) + len(found) == 40
    assert result.attribution.named is not None
    assert result.attribution.named.copy.export_id == a.export_id


# ------------------------------------------------------------------ the parts, by hand


def _rows_of(company: str) -> tuple[list[str], list[list[str]]]:
    with create_engine(company).connect() as conn:
        result = conn.execute(text(f"SELECT {COLUMNS}, created_at FROM customers"))
        header = list(result.keys())
        rows = [["" if v is None else str(v) for v in r] for r in result]
    return header, rows


def test_canaries_are_valid_people_and_the_fingerprint_is_keyed(company: str) -> None:
    header, rows = _rows_of(company)
    cfg = FingerprintConfig(canary_density=0.1)
    fp = fingerprint_rows(header, rows, 0, "analytics", b"k" * 32, "export:1", cfg)
    again = fingerprint_rows(header, rows, 0, "analytics", b"k" * 32, "export:1", cfg)
    other = fingerprint_rows(header, rows, 0, "analytics", b"j" * 32, "export:1", cfg)
    assert fp.rows == again.rows and fp.params == again.params  # deterministic from the key
    assert [r[0] for r in fp.rows] != [r[0] for r in other.rows]  # another key, another order
    assert len(fp.canaries) == 30 and len(fp.rows) == 330
    real_ids = {r[0] for r in rows}
    for c in fp.canaries:
        (row,) = c.rows
        assert row[0] not in real_ids
        cell = dict(zip(header, row, strict=True))
        p = c.person
        if p.locale != "zh_CN":
            continue
        assert ric.is_valid(p.id_number)
        # the ID agrees with the birth date and the gender (odd order code = male)
        assert p.id_number[6:14] == p.birth_date.strftime("%Y%m%d")
        assert (int(p.id_number[16]) % 2 == 1) == (p.gender == "M")
        assert cell["birth_date"] == p.birth_date.isoformat()
        # the address (its province maybe dropped: a format variant) is in the person's city
        assert p.address.endswith(cell["address"]) and p.city in p.address
        assert cell["city"] == p.city
        created = date.fromisoformat(cell["created_at"][:10])
        assert created >= date(p.birth_date.year + 18, 1, 1)
    assert fp.params["order"] == "customer" and fp.params["canaries"]["count"] == 30
    assert set(fp.params["format"]) == {"phone", "digits", "address"}
    # a subset where configured: the kept customers are the keyed hash's choice
    sub = fingerprint_rows(header, rows, 0, "research", b"k" * 32, "export:1",
                           FingerprintConfig(canary_density=0.0,
                                             subset_fractions={"research": 0.5}))  # fmt: skip
    assert 100 < len(sub.rows) < 200 and sub.params["subset"] == 0.5
    assert set(sub.real_ids) < real_ids


@pytest.mark.parametrize(
    ("style", "written"),
    [
        ({"phone": "plain", "digits": "half"}, "13812345678"),
        ({"phone": "dashed", "digits": "half"}, "138-1234-5678"),
        ({"phone": "spaced", "digits": "half"}, "138 1234 5678"),
        ({"phone": "plus86", "digits": "half"}, "+86 13812345678"),
        ({"phone": "dashed", "digits": "full"}, "１３８-１２３４-５６７８"),
    ],
)
def test_formats_are_written_and_read_back(style: dict[str, str], written: str) -> None:
    rows = [
        ["13812345678", "广东省深圳市南山区科技路1号"],
        ["13912345678", "浙江省杭州市西湖区文三路2号"],
    ]
    apply_formats(rows, ["mobile", "address"], {**style, "address": "no-province"})
    assert rows[0][0] == written
    assert rows[0][1] == "深圳市南山区科技路1号"
    seen = observed_formats(c for r in rows for c in r)
    assert seen == {**style, "address": "no-province"}


def test_canaries_never_hold_a_real_customers_identifiers(company: str) -> None:
    header, rows = _rows_of(company)
    kinds = column_kinds(header, rows)
    first = make_canaries(header, rows, kinds, 0, 20, Values(5))
    clashing = {c.person.mobile for c in first[:7]}  # pretend real customers have these

    def taken(people: Sequence[Person]) -> set[int]:
        return {i for i, p in enumerate(people) if p.mobile in clashing}

    again = make_canaries(header, rows, kinds, 0, 20, Values(5), taken=taken)
    assert len(again) == 20 and not {c.person.mobile for c in again} & clashing
    # the other thirteen are the same people as before: only the clashing ones were redrawn
    assert [c.person.mobile for c in again[7:]] == [c.person.mobile for c in first[7:]]
    with pytest.raises(ValueError, match="nobody's"):
        make_canaries(header, rows, kinds, 0, 3, Values(5), taken=lambda ps: {0})


def test_canary_keys_that_are_not_integers_look_like_the_copys() -> None:
    header = ["customer", "name", "mobile"]
    b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    keys = ["customer:1:" + "".join(b32[(i * 7 + j) % 32] for j in range(26)) for i in range(30)]
    rows = [[k, "张伟", "13812345678"] for k in keys]
    made = make_canaries(header, rows, column_kinds(header, rows), 0, 4, Values(3))
    used = {r[0] for r in rows}
    for c in made:
        assert c.key_value is not None and c.key_value not in used
        prefix, _, body = c.key_value.rpartition(":")
        assert prefix == "customer:1" and len(body) == 26
        assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_a_copy_whose_dates_nobody_drawn_could_have_reached_is_refused() -> None:
    header = ["id", "name", "mobile", "created_at"]
    rows = [[str(i), "张伟", "13812345678", "1930-01-01 10:00:00"] for i in range(1, 30)]
    with pytest.raises(ValueError, match="18 by the copy's last date-time 1930"):
        make_canaries(header, rows, column_kinds(header, rows), 0, 2, Values(1))


def test_a_copy_that_cannot_be_fingerprinted_is_not_released(world: World) -> None:
    from leakwarden.gateway.exports import ExportRefused

    # a company where every canary drawn clashes with a real customer (a test double)
    world.svc._taken_identifiers = lambda people: {0}  # type: ignore[method-assign]
    view = world.svc.request(ANALYST, f"SELECT {COLUMNS} FROM customers WHERE id <= 200",
                             "analytics", None, "A", timedelta(hours=1))  # fmt: skip
    world.svc.approve(view.id, DIRECTOR, "test")
    with pytest.raises(ExportRefused) as exc:
        world.svc.execute(view.id, ANALYST)
    assert exc.value.rule == "fingerprint" and "nobody's" in exc.value.message
    shown = world.svc.show(view.id)
    assert shown.status == "approved" and shown.export_id is None  # may be run again
    assert not list(world.tmp.glob("out/*.lwx"))  # no file written
    last = world.events()[-1]
    assert last.action == "gateway.export.execute" and last.outcome == "denied"
