"""``leakwarden protect`` through a Typer app of its own (the lead registers the command in
cli.py): real operators from the registry, keys from a key ring made in the test."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leakwarden.demo.build import build_company
from leakwarden.protect.command import protect_command

app = typer.Typer()
app.command("protect")(protect_command)
app.command("noop")(lambda: None)  # two commands: Typer then keeps "protect" as a subcommand


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store with a key ring holding key 'pi', unlocked by a master key in the environment."""
    from leakwarden.protect.keys import KeyRing, MasterKey

    master = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("LEAKWARDEN_MASTER_KEY", master)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with KeyRing.open(url, MasterKey.from_env("LEAKWARDEN_MASTER_KEY")) as ring:
        ring.create("pi")
    return url


RULES = """\
rules:
  - file: "*.csv"
    column: mobile
    operator: mask
    type: cn_mobile
    on_bad: mask
  - file: "*.csv"
    column: id_card
    operator: hmac:pi
    type: cn_resident_id
  - table: customers
    column: mobile
    operator: mask
    type: cn_mobile
    on_bad: suppress
  - table: customers
    column: id_card
    operator: hmac:pi
    type: cn_resident_id
"""


def test_protect_csv_with_registry_operators(tmp_path: Path, keyed: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    src = tmp_path / "c.csv"
    src.write_text(
        "name,mobile,id_card\n张三,13812345678,11010519491231002X\n"
        "李四,1381234,11010519491231002X\n"
    )
    out = tmp_path / "out.csv"
    args = ["protect", str(src), "--rules", str(rules), "--out", str(out), "--db", keyed]
    res = CliRunner().invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rows = out.read_text().splitlines()
    first, second = rows[1].split(","), rows[2].split(",")
    assert first[:2] == ["张三", "138****5678"]  # the issue's own example of a masked mobile
    assert re.fullmatch(r"cn_resident_id:1:[A-Z2-7]{26}", first[2])
    assert second[2] == first[2]  # same ID, same pseudonym: joins still work
    assert "11010519491231002X" not in out.read_text()
    mobile = next(c for c in doc["results"][0]["columns"] if c["column"] == "mobile")
    assert mobile["protected"] + mobile["bad"] == 2
    # Second run: nothing to do, same bytes.
    before = out.read_bytes()
    again = CliRunner().invoke(app, [*args, "--format", "json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["results"][0]["status"] == "unchanged"
    assert out.read_bytes() == before


def test_protect_table_and_exit_codes(tmp_path: Path, keyed: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    company = f"sqlite:///{tmp_path / 'company.db'}"
    build_company(company, customers=120, seed=5)
    args = ["protect", company, "--rules", str(rules), "--db", keyed, "--chunk-rows", "50"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "table customers" in res.stdout and "mobile" in res.stdout
    con = sqlite3.connect(tmp_path / "company.db")
    got = con.execute(
        "SELECT mobile, mobile_protected, id_card, id_card_protected FROM customers"
    ).fetchall()
    assert len(got) == 120
    for mobile, masked, id_card, pseudo in got:
        assert (
            masked == mobile[:3] + "****" + mobile[-4:]
            or masked in ("", None)
            or (len(masked) == len(mobile) and masked.count("*") >= 4)
        )
        assert pseudo.startswith("cn_resident_id:1:") and id_card not in pseudo
    again = CliRunner().invoke(app, [*args, "--format", "json"])
    assert json.loads(again.stdout)["results"][0]["status"] == "unchanged"


def test_fail_policy_exit_1_and_usage_errors(tmp_path: Path, keyed: str) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - file: '*'\n    column: id\n    operator: hmac:pi\n")
    src = tmp_path / "c.csv"
    src.write_text("id\n1\n \n")
    res = CliRunner().invoke(
        app,
        [
            "protect",
            str(src),
            "--rules",
            str(rules),
            "--out",
            str(tmp_path / "o.csv"),
            "--db",
            keyed,
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 1
    assert "line 3" in json.loads(res.stdout)["error"]
    assert not (tmp_path / "o.csv").exists()
    nowhere = CliRunner().invoke(app, ["protect", str(src), "--rules", str(rules)])
    assert nowhere.exit_code == 2 and "--out PATH or --in-place" in nowhere.output
    nokey = tmp_path / "k.yaml"
    nokey.write_text("rules:\n  - file: '*'\n    column: id\n    operator: hmac:missing\n")
    res = CliRunner().invoke(
        app, ["protect", str(src), "--rules", str(nokey), "--in-place", "--db", keyed]
    )
    assert res.exit_code == 2 and "missing" in res.output
    assert src.read_text() == "id\n1\n \n"


def test_protect_from_inventory(tmp_path: Path, keyed: str) -> None:
    from leakwarden.scan.scanner import scan_sources
    from leakwarden.scan.tasks import ScanOptions
    from leakwarden.store.db import make_engine
    from leakwarden.store.inventory import InventoryRepo

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "people.csv").write_text(
        "手机号,备注\n" + "".join(f"1{3 + i % 6}8{i:08d},hello\n" for i in range(40))
    )
    report = scan_sources([str(folder)], ScanOptions())
    repo = InventoryRepo(make_engine(keyed))
    for result in report.results:
        repo.record_scan(result)
    out = tmp_path / "protected"
    out.mkdir()
    res = CliRunner().invoke(
        app,
        [
            "protect",
            str(folder),
            "--from-inventory",
            "--out",
            str(out),
            "--db",
            keyed,
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    text = (out / "people.csv").read_text().splitlines()
    assert text[0] == "手机号,备注"
    assert text[1] == "138****0000,hello"  # 1 3 8 00000000 -> keep 3 and 4
    assert text[2] == "148****0001,hello"


def test_protect_demo_company_from_inventory(tmp_path: Path, keyed: str) -> None:
    from leakwarden.scan.scanner import scan_sources
    from leakwarden.scan.tasks import ScanOptions
    from leakwarden.store.db import make_engine
    from leakwarden.store.inventory import InventoryRepo

    company = f"sqlite:///{tmp_path / 'company.db'}"
    build_company(company, customers=150, seed=9)
    report = scan_sources([company], ScanOptions())
    repo = InventoryRepo(make_engine(keyed))
    for result in report.results:
        repo.record_scan(result)
    args = ["protect", company, "--from-inventory", "--key", "pi", "--db", keyed]
    res = CliRunner().invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    done = {(r["table"], c["column"]): c for r in doc["results"] for c in r["columns"]}
    assert done[("customers", "id_card")]["operator"] == "ff1:pi"
    assert done[("customers", "mobile")]["operator"] == "mask"
    con = sqlite3.connect(tmp_path / "company.db")
    for id_card, enc, mobile, masked in con.execute(
        "SELECT id_card, id_card_protected, mobile, mobile_protected FROM customers"
    ):
        if len(id_card) == 18:  # FF1 keeps a resident ID an 18-character resident ID
            assert enc != id_card and len(enc) == 18
        else:  # foreign customers' SSNs do not fit the column's type: masked by the policy
            assert enc == "*" * len(id_card)
        assert masked != mobile and masked.count("*") >= 4
    again = CliRunner().invoke(app, [*args, "--format", "json"])
    assert {r["status"] for r in json.loads(again.stdout)["results"]} == {"unchanged"}


def test_several_files_go_into_the_out_folder_not_over_each_other(
    tmp_path: Path, keyed: str
) -> None:
    """Two files and an --out that does not exist yet: --out becomes a folder holding both
    (it was once written as one file that the second target overwrote); two targets of the same
    name would collide there and are refused before anything is written."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("name,mobile,id_card\n张三,13812345678,11010519491231002X\n")
    b.write_text("name,mobile,id_card\n李四,13987654321,11010519491231002X\n")
    out = tmp_path / "out"
    args = ["protect", str(a), str(b), "--rules", str(rules), "--out", str(out), "--db", keyed]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (out / "a.csv").read_text().splitlines()[1].startswith("张三,138****5678,")
    assert (out / "b.csv").read_text().splitlines()[1].startswith("李四,139****4321,")

    twin = tmp_path / "sub" / "a.csv"
    twin.parent.mkdir()
    twin.write_text(a.read_text())
    clash = ["protect", str(a), str(twin), "--rules", str(rules), "--out", str(tmp_path / "o2")]
    res = CliRunner().invoke(app, [*clash, "--db", keyed])
    assert res.exit_code == 2
    assert "would both be written to" in " ".join(res.output.split())
    assert not (tmp_path / "o2" / "a.csv").exists()
