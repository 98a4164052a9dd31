"""Rule files (YAML with line numbers in errors, TOML with key paths) and rules derived from the
discovery inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakwarden.protect.rules import Rule, RuleError, load_rules, rules_from_inventory
from leakwarden.store.records import InventoryEntry, Location, SourceKind

GOOD = """\
version: 1
output: table
on_bad: suppress
rules:
  - table: customers
    column: mobile
    operator: mask
    type: cn_mobile
  - file: "exports/*.csv"
    field: id_number
    operator: ff1:ids
    on_bad: fail
"""


def test_yaml_rules(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD)
    rs = load_rules(path)
    assert rs.output == "table"
    assert rs.rules[0] == Rule(
        "table", "customers", "mobile", "mask", "cn_mobile", "suppress", f"{path} line 5"
    )
    assert rs.rules[1].kind == "file" and rs.rules[1].on_bad == "fail"
    assert rs.for_table("public.customers") == [rs.rules[0]]
    assert rs.for_table("orders") == []
    assert rs.for_file("exports/a.csv") == [rs.rules[1]]
    assert rs.for_file(tmp_path / "exports" / "b.csv", root=tmp_path) == [rs.rules[1]]
    assert rs.for_file("other/b.csv") == []
    assert rs.tables() == ["customers"]
    assert len(rs.digest()) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("operator: mask", "operator: blur"),
            r"line 5 \(rules\[0\]\).*'blur' unknown",
        ),
        (GOOD.replace("on_bad: fail", "on_bad: ignore"), r"line 9 \(rules\[1\]\).*'ignore'"),
        (GOOD.replace("    type: cn_mobile", "    type: phone_no"), r"line 5.*unknown type"),
        (GOOD.replace("operator: ff1:ids", "operator: 'ff1:'"), r"line 9.*needs a name"),
        (GOOD.replace("    column: mobile\n", ""), r"line 5.*'column' must be"),
        (GOOD.replace("  - file:", "  - table: x\n    file:"), r"exactly one of"),
        (GOOD.replace("output: table", "output: file"), r"line 1 \(output\)"),
        (GOOD + "extra: 1\n", r"unknown key 'extra'"),
        ("rules: [\n", r"not valid YAML at line 2"),
        ("rules: []\n", r"non-empty list"),
    ],
)
def test_yaml_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "r.yml"
    path.write_text(text)
    with pytest.raises(RuleError, match=expected) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_toml_rules_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        '[[rules]]\ntable = "customers"\ncolumn = "id_card"\noperator = "token:vault"\n'
        '[[rules]]\ntable = "customers"\ncolumn = "mobile"\noperator = "hmac"\n'
    )
    with pytest.raises(RuleError, match=r"r\.toml: rules\[1\].*'hmac' needs a name"):
        load_rules(path)
    path.write_text('[[rules]]\ntable = "customers"\ncolumn = "id_card"\noperator = "suppress"\n')
    assert load_rules(path).rules[0].operator == "suppress"
    path.write_text("rules = [")
    with pytest.raises(RuleError, match="not valid TOML"):
        load_rules(path)


def test_two_different_rules_for_one_column(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD + "  - table: customers\n    column: mobile\n    operator: hmac:k\n")
    with pytest.raises(RuleError, match="column 'mobile' has two rules"):
        load_rules(path).for_table("customers")


def entry(
    container: str, column: str, pi_type: str, sens: str, conf: float = 0.9
) -> InventoryEntry:
    return InventoryEntry(
        Location("sqlite:///c.db", container, column),
        pi_type,
        sens,
        conf,
        source_kind=SourceKind.DATABASE,
    )


def test_rules_from_inventory() -> None:
    rs = rules_from_inventory(
        [
            entry("customers", "id_card", "cn_resident_id", "sensitive"),
            entry("customers", "mobile", "cn_mobile", "personal"),
            entry("customers", "name", "person_name", "personal"),
            # one column, two types: the sensitive one decides
            entry("orders", "ext_info", "cn_mobile", "personal", 0.99),
            entry("orders", "ext_info", "cn_resident_id", "sensitive", 0.6),
            InventoryEntry(Location("/logs", "app.log", ""), "cn_mobile", "personal", 0.9),
        ],
        key="k1",
    )
    got = {(r.target, r.column): (r.operator, r.type_id, r.kind) for r in rs.rules}
    assert got == {
        ("customers", "id_card"): ("ff1:k1", "cn_resident_id", "table"),
        ("customers", "mobile"): ("mask", "cn_mobile", "table"),
        ("customers", "name"): ("mask", "person_name", "table"),
        ("orders", "ext_info"): ("ff1:k1", "cn_resident_id", "table"),
    }
    assert all(r.on_bad == "mask" for r in rs.rules)
    assert len(rs.problems) == 1 and "app.log" in rs.problems[0]
    with pytest.raises(RuleError, match="no column-level entries"):
        rules_from_inventory([])


def test_file_globs_match_path_tails(tmp_path: Path) -> None:
    rule = Rule("file", "exports/*.csv", "mobile", "mask")
    assert rule.matches_file(tmp_path / "exports" / "a.csv")
    assert rule.matches_file("exports/a.csv")
    assert not rule.matches_file(tmp_path / "imports" / "a.csv")
    assert not Rule("table", "exports/*.csv", "mobile", "mask").matches_file("exports/a.csv")
