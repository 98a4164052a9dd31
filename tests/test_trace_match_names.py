"""trace (issue 6): rows matched on name and address alone, masked values confirmed by the
name, and a configurable customer source (:mod:`leakwarden.trace.match`).

The company is a small demo company; expected customers come from the test's own construction
(which customer's name and address went into which row), never from the code under test.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text

from leakwarden.demo.build import build_company
from leakwarden.demo.schema import customers
from leakwarden.demo.values import Values
from leakwarden.store import db
from leakwarden.trace.match import CustomerIndex, CustomerSource, RowMatch, match_sample
from leakwarden.trace.normalize import read_sample


@dataclass
class Company:
    url: str
    people: dict[int, dict[str, Any]]
    index: CustomerIndex
    twin: tuple[int, int]  # two customers with the same name and address
    tmp: Path


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("names")
    url = f"sqlite:///{tmp / 'company.db'}"
    build_company(url, customers=400, seed=83)
    engine = db.make_engine(url)
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(customers))]
        # a namesake living at the same address (a parent and child): never a confident match
        first = next(r for r in rows if r["locale"] == "zh_CN")
        twin = dict(first, id=10_001, id_card="110101199001011237", mobile="13900000001",
                    email="twin@example.com", remark=None)  # fmt: skip
        conn.execute(insert(customers), [twin])
    people = {int(r["id"]): r for r in [*rows, twin]}
    index = CustomerIndex.build(engine)
    engine.dispose()
    yield Company(url, people, index, (int(first["id"]), 10_001), tmp)


def _match(company: Company, rows: list[list[str]], header: list[str]) -> list[RowMatch]:
    path = company.tmp / "leak.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    engine = db.make_engine(company.url)
    try:
        return match_sample(read_sample(path), company.index, engine)
    finally:
        engine.dispose()


def _zh(company: Company) -> list[dict[str, Any]]:
    twins = set(company.twin)
    return [
        p for c, p in sorted(company.people.items()) if p["locale"] == "zh_CN" and c not in twins
    ]


def _en(company: Company) -> list[dict[str, Any]]:
    return [p for _, p in sorted(company.people.items()) if p["locale"] == "en_US"]


def _reshape(address: str, province: str) -> str:
    """The address without its province, with spaces after the city and a 号楼."""
    rest = address.removeprefix(province)
    return rest.replace("栋", "号楼", 1)


def test_name_and_address_alone_match_the_right_customer(company: Company) -> None:
    zh = _zh(company)[:20]
    en = _en(company)[:5]
    rows = [[p["name"], _reshape(p["address"], p["province"]), "已签收"] for p in zh]
    rows += [[" ".join(reversed(p["name"].split())).upper(), p["address"], "ok"] for p in en]
    got = _match(company, rows, ["收件人", "地址", "状态"])
    expected = [p["id"] for p in zh + en]
    assert [m.customer_id for m in got] == expected
    assert all(m.confidence >= 0.9 for m in got), [(m.confidence, m.fields) for m in got]


def test_a_name_alone_or_with_a_city_only_never_matches(company: Company) -> None:
    p = _zh(company)[0]
    rows = [[p["name"], ""], [p["name"], p["province"] + p["city"]], [p["name"], p["city"]]]
    got = _match(company, rows, ["name", "where"])
    assert [m.customer_id for m in got] == [None, None, None]


def test_near_misses_are_not_matched(company: Company) -> None:
    zh = _zh(company)
    a, b = zh[0], zh[1]
    assert all(p["mobile"] != "13900000077" for p in company.people.values())
    other_room = a["address"][:-5] + ("9" if a["address"][-5] != "9" else "8") + a["address"][-4:]
    rows = [
        [a["name"], b["address"]],  # a's name, someone else's address
        [a["name"], other_room],  # a's name, a's building, another room
        [Values(5150).cn_name(), a["address"]],  # a stranger at a's address
        [a["name"], a["address"], "13900000077"],  # a's name and address, a phone nobody has
    ]
    got = _match(company, rows, ["name", "address", "phone"])
    assert [m.customer_id for m in got] == [None] * 4, [m.fields for m in got]


def test_namesakes_at_one_address_are_ambiguous(company: Company) -> None:
    p = company.people[company.twin[0]]
    got = _match(company, [[p["name"], p["address"]]], ["name", "address"])
    assert got[0].confidence < 0.9
    assert "ambiguous" in got[0].fields
    assert got[0].candidates == 2


def _fits(mask_prefix: str, mask_suffix: str, mobile: str) -> bool:
    return len(mobile) == 11 and mobile.startswith(mask_prefix) and mobile.endswith(mask_suffix)


def test_masked_mobile_and_the_exact_name(company: Company) -> None:
    p = _zh(company)[3]
    mob = p["mobile"]
    got = _match(company, [[p["name"], f"{mob[:3]}****{mob[7:]}"]], ["name", "phone"])
    # expected confidence by hand: 1 - c * f, c customers fit the mask, f the name's share
    c = sum(_fits(mob[:3], mob[7:], q["mobile"]) for q in company.people.values())
    f = sum(q["name"] == p["name"] for q in company.people.values()) / company.index.customers
    assert got[0].customer_id == p["id"]
    assert got[0].confidence == pytest.approx(min(0.98, 1 - c * f))


def test_masked_mobile_with_a_masked_name_is_not_enough(company: Company) -> None:
    p = _zh(company)[4]
    mob = p["mobile"]
    masked_name = p["name"][0] + "*" * (len(p["name"]) - 1)
    got = _match(company, [[masked_name, f"{mob[:3]}****{mob[7:]}"]], ["name", "phone"])
    assert got[0].customer_id is None


def test_masked_mobile_name_and_address(company: Company) -> None:
    p = _zh(company)[5]
    mob = p["mobile"]
    row = [p["name"], f"{mob[:3]}****{mob[7:]}", _reshape(p["address"], p["province"])]
    got = _match(company, [row], ["name", "phone", "address"])
    assert got[0].customer_id == p["id"] and got[0].confidence == 0.99


def test_a_mask_no_customer_fits_is_unexplained_whatever_the_name(company: Company) -> None:
    p = _zh(company)[6]
    mobiles = {q["mobile"] for q in company.people.values()}
    suffix = next(
        f"{n:04d}" for n in range(10_000) if not any(m.endswith(f"{n:04d}") for m in mobiles)
    )
    got = _match(company, [[p["name"], f"138****{suffix}", p["address"]]], ["n", "p", "a"])
    assert got[0].customer_id is None


def test_customer_source_with_other_names(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = create_engine(url)
    people = Values(77).people_columns(30, en_share=0.0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE clients (cust_no INTEGER PRIMARY KEY, full_name TEXT, "
                          "phone TEXT, addr TEXT)"))  # fmt: skip
        conn.execute(
            text("INSERT INTO clients VALUES (:i, :n, :p, :a)"),
            [
                {
                    "i": 500 + i,
                    "n": people["name"][i],
                    "p": people["mobile"][i],
                    "a": people["address"][i],
                }
                for i in range(30)
            ],
        )
    source = CustomerSource(
        table="clients", id="cust_no", name="full_name", id_card=None, mobile="phone",
        email=None, phones=(), address="addr", city=None, cards_table=None,
    )  # fmt: skip
    index = CustomerIndex.build(engine, source=source)
    assert index.customers == 30 and index.max_customer_id == 529
    path = tmp_path / "leak.csv"
    path.write_text(
        f"a,b\n{people['name'][2]},{people['mobile'][2]}\n"
        f"{people['name'][7]},{people['address'][7]}\n",
        encoding="utf-8",
    )
    got = match_sample(read_sample(path), index, engine)
    engine.dispose()
    assert [m.customer_id for m in got] == [502, 507]
    assert all(m.confidence >= 0.9 for m in got)
    assert CustomerSource.from_json(source.to_json()) == source
    with pytest.raises(ValueError, match="unknown fields"):
        CustomerSource.from_json({"table": "t", "colour": "red"})
    with pytest.raises(ValueError, match="an object of fields, not list"):
        CustomerSource.from_json(["customers"])  # type: ignore[arg-type]


def test_masked_mobile_and_the_address_without_a_name(company: Company) -> None:
    p = _zh(company)[7]
    mob = p["mobile"]
    got = _match(company, [[f"{mob[:3]}****{mob[7:]}", p["address"], "x"]], ["p", "a", "s"])
    assert got[0].customer_id == p["id"] and got[0].confidence == 0.95


def test_masked_mobile_and_address_with_someone_elses_name_is_only_possible(
    company: Company,
) -> None:
    p = _zh(company)[8]
    stranger = Values(6060).cn_name()
    assert all(q["name"] != stranger for q in company.people.values())
    mob = p["mobile"]
    got = _match(company, [[stranger, f"{mob[:3]}****{mob[7:]}", p["address"]]], ["n", "p", "a"])
    assert got[0].customer_id == p["id"] and got[0].confidence == 0.5
    assert any("conflict" in f for f in got[0].fields)


def test_a_masked_card_narrows_nothing_and_name_and_address_decide(company: Company) -> None:
    p = _zh(company)[9]
    got = _match(company, [[p["name"], "6222********1234", p["address"]]], ["n", "card", "a"])
    assert got[0].customer_id == p["id"] and got[0].confidence == 0.95


def test_members_of_a_name_sorted_or_not() -> None:
    import numpy as np

    from leakwarden.trace.match import _members

    cands = np.array([3, 7, 9, 20], dtype=np.int64)
    assert _members(cands, np.array([1, 3, 9, 15, 20], dtype=np.int64)) == [3, 9, 20]
    assert _members(cands, np.array([20, 3, 1], dtype=np.int64)) == [3, 20]  # any order
    assert _members(cands, np.array([21], dtype=np.int64)) == []
