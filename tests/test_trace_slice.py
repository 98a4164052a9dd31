"""trace (issue 6), first slice: a leaked sample -> affected customers and the export copy.

Exports are registered as ``gateway.exports.ExportService._run`` registers them: the CSV rows
and customer ids hashed with ``gateway.exports.row_hashes`` / ``customer_hash`` under the key
ring's ``export`` key.  Expected values come from the test's own construction (which customers
went into which copy and which rows were leaked), never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from leakwarden.demo.build import build_company
from leakwarden.demo.schema import customers
from leakwarden.demo.values import Values
from leakwarden.gateway.exports import HASH_KEY, customer_hash, row_hashes
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.store import db
from leakwarden.store.export_tables import ExportRecord
from leakwarden.trace.attribute import ModelConfig, binomial_tail
from leakwarden.trace.match import CustomerIndex
from leakwarden.trace.run import run_trace

COLUMNS = ["customer_id", "name", "id_card", "mobile", "email", "address"]


@dataclass
class World:
    company_url: str
    store_url: str
    keys: KeyRing
    people: dict[int, dict[str, Any]]
    index: CustomerIndex
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("trace")
    company_url = f"sqlite:///{tmp / 'company.db'}"
    build_company(company_url, customers=500, seed=61)
    engine = db.make_engine(company_url)
    with engine.connect() as conn:
        people = {
            int(r.id): dict(r._mapping)
            for r in conn.execute(
                select(
                    customers.c.id,
                    customers.c.name,
                    customers.c.id_card,
                    customers.c.mobile,
                    customers.c.email,
                    customers.c.address,
                    customers.c.locale,
                )
            )
        }
    index = CustomerIndex.build(engine)
    engine.dispose()
    keys = KeyRing.open(f"sqlite:///{tmp / 'keys.db'}", MasterKey.generate())
    keys.ensure("export", "export")
    yield World(company_url, "", keys, people, index, tmp)
    keys.close()


def _store(world: World, name: str) -> str:
    url = f"sqlite:///{world.tmp / name}"
    db.upgrade(url)
    return url


def _line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _row(world: World, cid: int) -> list[str]:
    p = world.people[cid]
    return [str(cid), p["name"], p["id_card"], p["mobile"], p["email"], p["address"]]


def register(world: World, store_url: str, recipient: str, ids: list[int]) -> str:
    """Register an export of ``ids`` (columns COLUMNS) the way ExportService._run does."""
    data_key = world.keys.current("export")
    hash_key = f"{data_key.name}:{data_key.version}:{HASH_KEY}"
    lines = [_line(_row(world, cid)) for cid in ids]
    export_id = "xp_" + secrets.token_hex(8)
    record = ExportRecord(
        id=export_id,
        request_id="xr_" + secrets.token_hex(8),
        recipient=recipient,
        requester="1001",
        approvers=json.dumps([{"person": "1002", "role": "data_director", "at": "x"}]),
        purpose="analytics",
        executed_at=datetime.now(UTC),
        sql="SELECT ...",
        fingerprint="0" * 64,
        parameters="[]",
        columns=json.dumps(COLUMNS),
        rows=len(ids),
        customers=len(set(ids)),
        customer_hashes=json.dumps(
            sorted(customer_hash(world.keys, hash_key, str(c)) for c in set(ids))
        ),
        row_hashes=json.dumps(row_hashes(world.keys, hash_key, lines)),
        hash_key=hash_key,
        file_path="/dev/null",
        file_sha256="0" * 64,
        file_key=f"{data_key.name}:{data_key.version}",
        fingerprint_params="{}",
    )
    engine = db.make_engine(store_url)
    with Session(engine) as session, session.begin():
        session.add(record)
    engine.dispose()
    return export_id


def trace(world: World, store_url: str, path: Path, **config: Any) -> Any:
    company = db.make_engine(world.company_url)
    store = db.make_engine(store_url)
    try:
        return run_trace(
            path,
            company=company,
            store=store,
            keys=world.keys,
            config=ModelConfig(**config),
            index=world.index,
        )
    finally:
        company.dispose()
        store.dispose()


def zh_ids(world: World) -> list[int]:
    return [cid for cid, p in sorted(world.people.items()) if p["locale"] == "zh_CN"]


def test_twenty_verbatim_rows_name_the_right_copy_of_three_disjoint(world: World) -> None:
    store = _store(world, "s1.db")
    ids = sorted(world.people)
    a = register(world, store, "partner-a", ids[0:100])
    register(world, store, "partner-b", ids[100:200])
    register(world, store, "partner-c", ids[200:300])
    leaked = random.Random(1).sample(ids[0:100], 20)
    path = world.tmp / "verbatim.csv"
    path.write_text(
        "\r\n".join([_line(COLUMNS)] + [_line(_row(world, c)) for c in leaked]) + "\r\n",
        encoding="utf-8",
    )
    result = trace(world, store, path)
    att = result.attribution
    assert att.verdict == "attributed", att.reason
    assert att.named is not None and att.named.copy.export_id == a
    assert att.named.copy.recipient == "partner-a"
    assert att.named.posterior >= 0.999999
    assert att.named.innocence_bound <= 1e-6
    assert att.named.explained == 20
    assert att.named.verbatim_rows == 20
    assert sorted(x.customer_id for x in result.affected) == sorted(leaked)
    assert result.unexplained_rows == []


def _reformat_mobile(mobile: str, how: int) -> str:
    if how == 0:
        return f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    if how == 1:
        return mobile.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})  # full width
    return f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"


def test_reformatted_masked_leak_with_foreign_rows(world: World) -> None:
    store = _store(world, "s2.db")
    ids = zh_ids(world)
    a = register(world, store, "partner-a", ids[0:120])
    register(world, store, "partner-b", ids[120:240])
    rng = random.Random(7)
    leaked = rng.sample(ids[0:120], 35)
    masked = set(leaked[:8])
    rows = []
    for n, cid in enumerate(leaked):
        p = world.people[cid]
        if cid in masked:
            # only a masked mobile and the name: partial evidence confirmed by the name
            mob = p["mobile"][:3] + "****" + p["mobile"][7:]
            rows.append([p["name"] + " ", mob, "", p["address"]])
        else:
            rows.append([p["name"], _reformat_mobile(p["mobile"], n % 3), p["id_card"].lower(), ""])
    other = Values(987654)
    foreign = other.people_columns(15, en_share=0.0)
    for i in range(15):  # 15 of 50 rows = 30 % foreign
        rows.append(
            [str(foreign["name"][i]), str(foreign["mobile"][i]), str(foreign["id_number"][i]), ""]
        )
    rng.shuffle(rows)
    path = world.tmp / "leak.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["客户", "联系电话", "证件", "地址"])  # renamed, reordered, fewer columns
        w.writerows(rows)
    result = trace(world, store, path)
    got = {x.customer_id for x in result.affected}
    assert got == set(leaked), (sorted(got - set(leaked)), sorted(set(leaked) - got))
    assert len(result.unexplained_rows) == 15
    assert result.possible == []
    att = result.attribution
    assert att.verdict == "attributed", att.reason
    assert att.named is not None and att.named.copy.export_id == a


def test_rows_shared_by_two_copies_are_undecided_whatever_the_sizes(world: World) -> None:
    store = _store(world, "s3.db")
    ids = sorted(world.people)
    register(world, store, "partner-a", ids[0:100])
    register(world, store, "partner-b", ids[50:400])  # bigger, overlapping A on ids[50:100]
    register(world, store, "partner-c", ids[400:500])
    leaked = ids[50:100]  # every leaked customer is in both A and B
    path = world.tmp / "shared.csv"
    path.write_text(
        "\n".join([_line(COLUMNS)] + [_line(_row(world, c)) for c in leaked]), encoding="utf-8"
    )
    result = trace(world, store, path)
    att = result.attribution
    assert att.verdict == "undecided", att.reason
    assert att.named is None
    assert {c.copy.recipient for c in att.copies[:2]} == {"partner-a", "partner-b"}
    assert att.copies[0].exclusive == 0


def test_customers_in_no_copy_are_not_pinned_on_anyone(world: World) -> None:
    store = _store(world, "s4.db")
    ids = sorted(world.people)
    register(world, store, "partner-a", ids[0:100])
    register(world, store, "partner-b", ids[100:200])
    leaked = ids[300:340]
    path = world.tmp / "elsewhere.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"who": world.people[c]["name"], "tel": world.people[c]["mobile"]})
            for c in leaked
        ),
        encoding="utf-8",
    )
    result = trace(world, store, path)
    assert {x.customer_id for x in result.affected} == set(leaked)
    assert result.attribution.verdict == "none", result.attribution.reason
    assert result.attribution.named is None


def test_text_pasted_from_a_web_page(world: World) -> None:
    store = _store(world, "s5.db")
    ids = zh_ids(world)
    a = register(world, store, "partner-a", ids[0:60])
    register(world, store, "partner-b", ids[60:120])
    leaked = ids[10:35]
    lines = ["出售 客户资料 一手 数据 联系QQ", ""]
    for c in leaked:
        p = world.people[c]
        lines.append(f"{p['name']}  手机：{p['mobile']}  身份证：{p['id_card']}")
    path = world.tmp / "paste.txt"
    path.write_text("\n".join(lines), encoding="gb18030")
    result = trace(world, store, path)
    assert {x.customer_id for x in result.affected} == set(leaked)
    assert result.attribution.named is not None
    assert result.attribution.named.copy.export_id == a


def test_binomial_tail_against_hand_values() -> None:
    # P(X >= 1), X ~ Bin(2, 0.5) = 3/4; P(X >= 3), X ~ Bin(3, 0.1) = 0.001
    assert binomial_tail(2, 0.5, 1) == pytest.approx(0.75)
    assert binomial_tail(3, 0.1, 3) == pytest.approx(0.001)
    assert binomial_tail(5, 0.2, 0) == 1.0
    assert binomial_tail(5, 0.2, 6) == 0.0


def test_command_writes_json_html_and_the_customer_list(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from typer.testing import CliRunner

    from leakwarden.trace.command import trace_app

    # the command opens the key ring itself: a store of its own with a known master key
    raw = secrets.token_bytes(32)
    master = MasterKey(raw)
    store = _store(world, "cli.db")
    monkeypatch.setenv("TRACE_TEST_MASTER", base64.b64encode(raw).decode())
    ring = KeyRing.open(store, master)
    ring.ensure("export", "export")
    own = World(world.company_url, store, ring, world.people, world.index, world.tmp)
    ids = sorted(world.people)
    a = register(own, store, "partner-a", ids[0:80])
    register(own, store, "partner-b", ids[80:160])
    ring.close()
    leaked = ids[5:30]
    path = world.tmp / "cli.csv"
    path.write_text(
        "\n".join([_line(COLUMNS)] + [_line(_row(world, c)) for c in leaked]), encoding="utf-8"
    )
    report = world.tmp / "out" / "report.json"
    listing = world.tmp / "out" / "customers.csv"
    args = [str(path), "--company-url", world.company_url, "--db", store,
            "--master-env", "TRACE_TEST_MASTER", "--format", "json", "--out", str(report),
            "--customers-out", str(listing)]  # fmt: skip
    res = CliRunner().invoke(trace_app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["attribution"]["verdict"] == "attributed"
    assert doc["attribution"]["named_export"] == a
    assert doc["affected"]["count"] == len(leaked)
    with listing.open(encoding="utf-8") as fh:
        assert sorted(int(r["customer_id"]) for r in csv.DictReader(fh)) == sorted(leaked)
    # no clear value of the sample in the report
    text = report.read_text(encoding="utf-8")
    for c in leaked:
        assert world.people[c]["mobile"] not in text
        assert world.people[c]["id_card"] not in text
    html = world.tmp / "out" / "report.html"
    res = CliRunner().invoke(trace_app, [*args[:-5], "html", "--out", str(html)])
    assert res.exit_code == 0, res.output
    assert "attributed" in html.read_text(encoding="utf-8")
    res = CliRunner().invoke(trace_app, [*args[:-5], "table"])
    assert res.exit_code == 0, res.output
    assert "partner-a" in res.output


def test_command_names_an_unreadable_sample(world: World) -> None:
    from typer.testing import CliRunner

    from leakwarden.trace.command import trace_app

    store = _store(world, "empty.db")
    base = ["--company-url", world.company_url, "--db", store]
    res = CliRunner().invoke(trace_app, [str(world.tmp / "missing.csv"), *base])
    assert res.exit_code == 2
    assert "missing.csv" in res.output
    sample = world.tmp / "ok.csv"
    sample.write_text("a,b\n1,2\n", encoding="utf-8")
    res = CliRunner().invoke(trace_app, [str(sample), *base])
    assert res.exit_code == 2
    assert "no key ring" in res.output


def test_excel_sample_with_masked_resident_ids_and_full_width_digits(world: World) -> None:
    import openpyxl

    store = _store(world, "s6.db")
    ids = zh_ids(world)
    a = register(world, store, "partner-a", ids[0:100])
    register(world, store, "partner-b", ids[100:200])
    leaked = ids[40:70]
    masked = set(leaked[::3])
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["备注", "证件号码", "姓名"])
    for cid in leaked:
        p = world.people[cid]
        if cid in masked:
            ident = p["id_card"][:6] + "*" * 8 + p["id_card"][14:]
        else:
            ident = p["id_card"].translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
        sheet.append(["VIP", ident, p["name"]])
    path = world.tmp / "leak.xlsx"
    book.save(path)
    result = trace(world, store, path)
    assert {x.customer_id for x in result.affected} == set(leaked)
    by_id = {x.customer_id: x for x in result.affected}
    assert all(any("masked" in f for f in by_id[c].fields) for c in masked)
    assert result.attribution.named is not None
    assert result.attribution.named.copy.export_id == a


def test_a_masked_mobile_without_a_confirming_field_is_not_counted(world: World) -> None:
    store = _store(world, "s7.db")
    ids = zh_ids(world)
    register(world, store, "partner-a", ids[0:100])
    p = world.people[ids[3]]
    path = world.tmp / "bare.csv"
    # a masked mobile and an unrelated name: no candidate is confirmed
    path.write_text(
        f"name,phone\n无名氏,{p['mobile'][:3]}****{p['mobile'][7:]}\n", encoding="utf-8"
    )
    result = trace(world, store, path)
    assert result.affected == []
    assert result.attribution.verdict == "no-evidence"


def test_model_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="other_route_rate"):
        ModelConfig(other_route_rate=0.0)
    with pytest.raises(ValueError, match="threshold"):
        ModelConfig(threshold=1.0)


def test_a_mobile_whose_row_holds_someone_elses_id_is_only_possible(world: World) -> None:
    store = _store(world, "s8.db")
    ids = zh_ids(world)
    register(world, store, "partner-a", ids[0:100])
    real, other = world.people[ids[5]], Values(4242).people_columns(1, en_share=0.0)
    path = world.tmp / "conflict.csv"
    path.write_text(
        f"name,phone,id\n{other['name'][0]},{real['mobile']},{other['id_number'][0]}\n",
        encoding="utf-8",
    )
    result = trace(world, store, path)
    assert result.affected == []
    assert [x.customer_id for x in result.possible] == [ids[5]]
    assert any("conflict" in f for f in result.possible[0].fields)


def test_parquet_and_json_array_samples_read_by_detection(world: World) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from leakwarden.trace.normalize import read_sample

    ids = zh_ids(world)[:6]
    people = [world.people[c] for c in ids]
    pq_path = world.tmp / "leak.parquet"
    pq.write_table(
        pa.table({"x1": [p["email"] for p in people], "x2": [int(p["mobile"]) for p in people]}),
        pq_path,
    )
    sample = read_sample(pq_path)
    assert [len(r.keys) for r in sample.rows] == [2] * 6
    js_path = world.tmp / "leak.json"
    js_path.write_text(
        json.dumps({"data": [{"u": {"tel": p["mobile"], "n": p["name"]}} for p in people]}),
        encoding="utf-8",
    )
    sample = read_sample(js_path)
    assert [k for r in sample.rows for k, _ in r.keys] == [f"phone:{p['mobile']}" for p in people]
    assert sample.rows[0].keys[0][1] == "u.tel"
