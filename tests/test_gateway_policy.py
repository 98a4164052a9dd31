"""gateway.policy: loading and validating Cedar policies, decisions, fail-closed evaluation,
the versioned test cases (and that a mutated policy fails them), the policy commands, and a
property test over random requests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leakwarden.gateway.catalog import Catalog
from leakwarden.gateway.decision import (
    ACTIONS,
    DEPARTMENT_IDS,
    ROLE_IDS,
    AccessRequest,
    Decision,
    Principal,
    Treatment,
)
from leakwarden.gateway.policy import (
    DEFAULT_POLICY_DIR,
    PURPOSES,
    CaseError,
    PolicyEngine,
    PolicyLoadError,
    load_cases,
    run_cases,
    split_statements,
    unexercised,
)
from leakwarden.gateway.policy_command import policy_app

CATALOG = Catalog.from_demo()
ENGINE = PolicyEngine.load()
AGENT = Principal("101", "客服专员", "客服", "浙江杭州")


def _copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- loading ------------------------------------------------------------------------------------


def test_shipped_policies_load_with_unique_ids() -> None:
    ids = ENGINE.policy_ids
    assert len(ids) == len(set(ids))
    assert "base.sensitive-never-clear" in ids
    assert "fraud.clear-with-ticket" in ids
    # Every shipped .cedar statement became a policy.
    count = sum(
        len(split_statements(p.read_text(encoding="utf-8")))
        for p in DEFAULT_POLICY_DIR.glob("*.cedar")
    )
    assert count == len(ids)


def test_split_statements_ignores_semicolons_in_strings_and_comments() -> None:
    text = (
        '// a; comment\n@id("x;y")\npermit (principal, action, resource)\nwhen { "a;b" == "c" };\n'
    )
    parts = split_statements(text)
    assert len(parts) == 1
    offset, stmt = parts[0]
    assert text[offset:].startswith('@id("x;y")')
    assert stmt.endswith("};")


def test_parse_error_names_file_line_and_column(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    (d / "zz_broken.cedar").write_text(
        '// broken on purpose\n\n@id("ok")\npermit (principal, action, resource);\n\n'
        '  @id("bad")\n  permit (principal, action, resource) when { context.purpose == };\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyLoadError, match=r"zz_broken\.cedar:6:3: policy parse error") as e:
        PolicyEngine.load(d)
    assert e.value.line == 6 and e.value.column == 3


def test_schema_mismatch_names_the_policy_and_its_line(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    path = d / "marketing.cedar"
    text = path.read_text(encoding="utf-8")
    line = text[: text.index('@id("marketing.pseudonymised")')].count("\n") + 1
    _edit(path, 'resource.sensitivity == "personal"', 'resource.sensitivty == "personal"')
    with pytest.raises(PolicyLoadError) as e:
        PolicyEngine.load(d)
    msg = str(e.value)
    assert f"marketing.cedar:{line}:1" in msg
    assert "sensitivty" in msg and "marketing.pseudonymised" in msg


def test_schema_type_error_is_a_load_error(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    # A string compared with a number: Cedar's validator rejects it, the parser does not.
    _edit(d / "billing.cedar", 'context.purpose == "billing" &&', "context.purpose == 3 &&")
    with pytest.raises(PolicyLoadError, match=r"billing\.cedar:\d+:1: policy does not match"):
        PolicyEngine.load(d)


def test_broken_schema_names_the_schema_file(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    _edit(d / "leakwarden.cedarschema", "customer_data: Bool", "customer_data: Boool")
    with pytest.raises(PolicyLoadError, match=r"leakwarden\.cedarschema:\d+:\d+: schema error"):
        PolicyEngine.load(d)


def test_missing_and_duplicate_ids_are_load_errors(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    (d / "zz.cedar").write_text("permit (principal, action, resource);\n", encoding="utf-8")
    with pytest.raises(PolicyLoadError, match=r"zz\.cedar:1:1: policy has no @id"):
        PolicyEngine.load(d)
    (d / "zz.cedar").write_text(
        '@id("cs.masked")\nforbid (principal, action, resource);\n', encoding="utf-8"
    )
    with pytest.raises(PolicyLoadError, match=r"duplicate policy id 'cs.masked' \(first at"):
        PolicyEngine.load(d)


def test_directory_without_schema_or_policies(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="not a policy directory"):
        PolicyEngine.load(tmp_path / "nope")
    (tmp_path / "a.cedar").write_text('@id("a")\npermit (principal, action, resource);\n')
    with pytest.raises(PolicyLoadError, match=r"exactly one \*\.cedarschema"):
        PolicyEngine.load(tmp_path)


# -- deciding -----------------------------------------------------------------------------------


def test_customer_service_clear_only_for_the_checked_ticket_customer() -> None:
    cols = ("name", "mobile", "id_card", "vip")
    checked = AccessRequest(
        AGENT, "read", "customer_service", "customers", cols, "T-1", (42,), ticket_checked=True
    )
    d = ENGINE.decide(checked, CATALOG)
    assert d.allowed
    assert d.treatments == {
        "name": Treatment.CLEAR,
        "mobile": Treatment.CLEAR,
        "id_card": Treatment.MASKED,
        "vip": Treatment.CLEAR,
    }
    assert "cs.clear-contact-for-ticket-customer" in d.policy_ids
    assert "base.sensitive-never-clear" in d.policy_ids  # it stopped id_card being clear
    assert d.row_filter is None
    unchecked = AccessRequest(AGENT, "read", "customer_service", "customers", cols, "T-1", (42,))
    d2 = ENGINE.decide(unchecked, CATALOG)
    assert d2.treatment("name") is Treatment.MASKED
    assert "cs.clear-contact-for-ticket-customer" not in d2.policy_ids


def test_courier_rows_filtered_to_own_region() -> None:
    courier = Principal("7", "配送员", "配送", "广东广州")
    req = AccessRequest(courier, "print_waybill", "delivery", "waybills", ("recipient_phone",))
    d = ENGINE.decide(req, CATALOG)
    assert d.allowed and d.row_filter == {"region": "广东广州"}
    assert d.treatment("recipient_phone") is Treatment.MASKED
    assert "region '广东广州'" in d.reason


def test_titles_and_ids_decide_alike() -> None:
    cols = ("mobile", "id_card", "segment")
    by_title = Principal("1", "营销专员", "营销", "上海")
    by_id = Principal("1", "marketing_specialist", "marketing", "上海")
    a = ENGINE.decide(AccessRequest(by_title, "query", "marketing", "customers", cols), CATALOG)
    b = ENGINE.decide(AccessRequest(by_id, "query", "marketing", "customers", cols), CATALOG)
    assert a == b
    assert a.treatments["mobile"] is Treatment.PSEUDONYMISED
    assert a.treatments["id_card"] is Treatment.DENIED


def test_unknown_table_and_column_are_refused_naming_them() -> None:
    d = ENGINE.decide(
        AccessRequest(AGENT, "read", "customer_service", "pg_shadow", ("passwd",), "T"), CATALOG
    )
    assert not d.allowed and "pg_shadow" in d.reason
    assert d.treatment("passwd") is Treatment.DENIED
    d = ENGINE.decide(
        AccessRequest(AGENT, "read", "customer_service", "customers", ("name", "pwd"), "T"),
        CATALOG,
    )
    assert not d.allowed and "'pwd'" in d.reason
    assert d.treatment("name") is Treatment.DENIED


def test_evaluation_error_fails_closed(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    # A forbid whose condition overflows for one customer: Cedar skips an erroring policy (which
    # would let the permits through); the engine must refuse instead.
    (d / "zz_overflow.cedar").write_text(
        '@id("test.overflowing-forbid")\n'
        'forbid (principal, action == Action::"read_clear", resource)\n'
        "when { context.customer_count + 9223372036854775807 > 0 };\n",
        encoding="utf-8",
    )
    engine = PolicyEngine.load(d)
    req = AccessRequest(
        AGENT, "read", "customer_service", "customers", ("name",), "T-1", (42,), True
    )
    decision = engine.decide(req, CATALOG)
    assert not decision.allowed
    assert "policy evaluation error" in decision.reason and "overflow" in decision.reason
    assert decision.treatment("name") is Treatment.DENIED
    # Without a customer count the forbid evaluates fine (-1 + max does not overflow).
    ok = engine.decide(AccessRequest(AGENT, "read", "customer_service", "customers",
                                     ("name",), "T-1"), CATALOG)  # fmt: skip
    assert ok.allowed and ok.treatment("name") is Treatment.MASKED


def test_decide_never_raises_on_a_broken_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = PolicyEngine.load()

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("cedar crashed")

    monkeypatch.setattr("leakwarden.gateway.policy.cedarpy.is_authorized_batch", boom)
    d = engine.decide(AccessRequest(AGENT, "read", "billing", "orders", ("amount",)), CATALOG)
    assert not d.allowed and "cedar crashed" in d.reason


def test_cached_decisions_are_copies() -> None:
    req = AccessRequest(AGENT, "read", "customer_service", "customers", ("name",), "T")
    first = ENGINE.decide(req, CATALOG)
    first.treatments["name"] = Treatment.CLEAR
    first.policy_ids.clear()
    again = ENGINE.decide(req, CATALOG)
    assert again.treatments["name"] is Treatment.MASKED
    assert "cs.masked" in again.policy_ids


# -- versioned test cases -----------------------------------------------------------------------


def test_shipped_cases_pass() -> None:
    cases = load_cases([DEFAULT_POLICY_DIR / "tests"])
    assert len(cases) >= 20
    results = run_cases(ENGINE, cases, CATALOG)
    failed = [(r.case.name, r.problems) for r in results if not r.passed]
    assert failed == []
    # Every shipped policy is named by at least one case's decision.
    assert unexercised(ENGINE, results) == []


def test_unexercised_names_a_policy_no_case_reaches(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    (d / "zz_extra.cedar").write_text(
        '@id("legal.nothing-yet")\npermit (principal, action == Action::"access", resource)\n'
        'when { principal.department == "legal" && context.purpose == "litigation" };\n',
        encoding="utf-8",
    )
    engine = PolicyEngine.load(d)
    results = run_cases(engine, load_cases([d / "tests"]), CATALOG)
    assert unexercised(engine, results) == ["legal.nothing-yet"]


@pytest.mark.parametrize(
    ("file", "old", "new", "failing_case"),
    [
        # Drop the ticket check: customer service would see contacts in clear on any ticket.
        (
            "customer_service.cedar",
            "context.ticket_checked &&\n  context.customer_count >= 1 &&",
            "context.customer_count >= 1 &&",
            "客服专员 with a ticket that was not checked sees contacts masked only",
        ),
        # Weaken the sensitive-PI forbid to fraud review by anyone: security would see IDs.
        (
            "00_base.cedar",
            'context.purpose == "fraud_review" &&\n  principal.department == "risk" &&',
            'context.purpose != "x" &&',
            "安全工程师: the resident ID stays masked (only fraud review may see it)",
        ),
        # Couriers of every region.
        (
            "delivery.cedar",
            'principal.role == "logistics_director" && context.purpose == "delivery"',
            'context.purpose == "delivery"',
            "配送员 printing a waybill: name and phone masked, address and waybill number clear, "
            "own region only",
        ),
    ],
)
def test_a_mutated_policy_fails_its_case(
    tmp_path: Path, file: str, old: str, new: str, failing_case: str
) -> None:
    d = _copy_policies(tmp_path)
    _edit(d / file, old, new)
    results = run_cases(PolicyEngine.load(d), load_cases([d / "tests"]), CATALOG)
    failed = {r.case.name for r in results if not r.passed}
    assert failing_case in failed
    result = CliRunner().invoke(policy_app, ["test", str(d), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["failed"] >= 1
    assert failing_case in {c["name"] for c in report["cases"] if not c["passed"]}


def test_case_file_errors_name_file_and_case(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"cases": [{"name": "x", "principal": {"role": "a"}, "request": {}, '
                   '"expect": {"allowed": true}}]}', encoding="utf-8")  # fmt: skip
    with pytest.raises(CaseError, match=r"bad\.json: case 1 \('x'\): missing field 'department'"):
        load_cases([bad])
    bad.write_text('{"cases": [\n  {"name": }\n]}', encoding="utf-8")
    with pytest.raises(CaseError, match=r"bad\.json:2:\d+: invalid JSON"):
        load_cases([bad])
    good = json.loads((DEFAULT_POLICY_DIR / "tests" / "demo_company.json").read_text())
    good["cases"][0]["expect"]["treatments"]["name"] = "visible"
    bad.write_text(json.dumps(good), encoding="utf-8")
    with pytest.raises(CaseError, match=r"case 1 .*'visible' is not a valid Treatment"):
        load_cases([bad])


# -- commands -----------------------------------------------------------------------------------


def test_policy_test_command_table_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(policy_app, ["test"])
    assert result.exit_code == 0, result.output
    assert "policy cases: " in result.output and " 0 failed" in result.output
    assert "no case exercises" not in result.output
    result = runner.invoke(policy_app, ["test", "--format", "json"])
    report = json.loads(result.output)
    assert report["failed"] == 0 and report["passed"] == len(report["cases"])


def test_policy_test_command_load_error_exit_2(tmp_path: Path) -> None:
    d = _copy_policies(tmp_path)
    (d / "zz.cedar").write_text("permit (principal, action, resource)\n", encoding="utf-8")
    result = CliRunner().invoke(policy_app, ["test", str(d)])
    assert result.exit_code == 2
    assert "zz.cedar:1:1" in result.output


def test_policy_explain_command() -> None:
    args = ["explain", "--table", "payment_cards", "--columns", "card_no,bank", "--purpose",
            "billing", "--role", "会计", "--department", "财务", "--format", "json"]  # fmt: skip
    result = CliRunner().invoke(policy_app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["treatments"] == {"card_no": "masked", "bank": "clear"}
    forbid = [e for e in out["evaluations"] if e["target"] == "payment_cards.card_no"
              and e["action"] == "read_clear"]  # fmt: skip
    assert forbid[0]["allowed"] is False
    assert forbid[0]["policy_ids"] == ["base.sensitive-never-clear"]
    denied = CliRunner().invoke(policy_app, [*args[:-2], "--purpose", "marketing"])
    assert denied.exit_code == 1


# -- property -----------------------------------------------------------------------------------

_TABLE_COLUMNS = [(t.name, list(t.columns)) for t in CATALOG.tables.values()]
_SENSITIVE_CLEAR_POLICIES = {"fraud.clear-with-ticket"}


# Department -> the purpose its policies serve: half the requests pair them, so the permits
# (not only the default deny) are exercised.
_PURPOSE_OF = {
    "customer_service": "customer_service",
    "delivery": "delivery",
    "finance": "billing",
    "risk": "fraud_review",
    "marketing": "marketing",
    "analytics": "analytics",
    "engineering": "debugging",
    "security": "security_investigation",
}
_SENSITIVE = {
    t: [c for c, info in CATALOG.table(t).columns.items() if info.sensitivity == "sensitive"]
    for t, _cols in _TABLE_COLUMNS
}


_ONE_IN_4 = st.sampled_from([False] * 3 + [True])
_ONE_IN_10 = st.sampled_from([False] * 9 + [True])


@st.composite
def requests(draw: st.DrawFn) -> AccessRequest:
    # Hypothesis favours the first alternatives and small integers: weights are spelled out
    # as repeated list items, with the rare cases last.
    department = draw(st.sampled_from(list(_PURPOSE_OF)))
    if draw(_ONE_IN_4):
        department = draw(
            st.sampled_from([*DEPARTMENT_IDS, *DEPARTMENT_IDS.values()]) | st.text(max_size=8)
        )
    principal = Principal(
        person_id=str(draw(st.integers(1, 50))),
        role=draw(st.sampled_from([*ROLE_IDS, *ROLE_IDS.values()]) | st.text(max_size=8)),
        department=department,
        region=draw(st.sampled_from(["浙江杭州", "北京", ""])),
        kind=draw(st.sampled_from(["person", "person", "service"])),
    )
    paired = _PURPOSE_OF.get(department)
    purposes = st.sampled_from(list(PURPOSES)) | st.text(max_size=12)
    purpose = paired if paired and not draw(_ONE_IN_4) else draw(purposes)
    table, columns = draw(st.sampled_from(_TABLE_COLUMNS))
    ids = st.integers(1, 5)
    chosen = draw(st.lists(st.sampled_from([*columns, *_SENSITIVE[table] * 3]), max_size=6))
    if _SENSITIVE[table] and not draw(_ONE_IN_4):
        chosen.append(draw(st.sampled_from(_SENSITIVE[table])))
    if draw(_ONE_IN_10):
        chosen.append("no_such_column")
    return AccessRequest(
        principal=principal,
        action=draw(st.sampled_from(["read", "query", "read", "query", *ACTIONS])),
        purpose=purpose,
        table="sqlite_master" if draw(_ONE_IN_10) else table,
        columns=tuple(chosen),
        ticket=None if draw(_ONE_IN_4) else "T-1",
        customer_ids=None
        if draw(_ONE_IN_4)
        else tuple(draw(st.lists(ids, min_size=1, max_size=3))),
        ticket_checked=not draw(_ONE_IN_4),
    )


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_sensitive_never_clear_unless_a_named_policy_allows_it(req: AccessRequest) -> None:
    d = ENGINE.decide(req, CATALOG)  # never raises
    assert isinstance(d, Decision)
    if not d.allowed:
        assert all(t is Treatment.DENIED for t in d.treatments.values())
        return
    # Sensitive PI clear only by the fraud-review policy, for its purpose, on a checked ticket.
    _check_sensitive_clear(req, d)
    for col, treatment in d.treatments.items():
        info = CATALOG.column(req.table, col)
        if treatment is Treatment.CLEAR and info.is_personal:
            assert req.principal.kind == "person"
            assert req.action != "export"
        if info.sensitivity == "sensitive":
            assert treatment is not Treatment.PSEUDONYMISED


def _check_sensitive_clear(req: AccessRequest, d: Decision) -> None:
    for col, treatment in d.treatments.items():
        if treatment is Treatment.CLEAR and CATALOG.column(req.table, col).sensitivity == (
            "sensitive"
        ):
            assert req.purpose == "fraud_review", (req, d)
            assert req.ticket is not None and req.ticket_checked, (req, d)
            assert _SENSITIVE_CLEAR_POLICIES & set(d.policy_ids), (req, d)


def test_sensitive_clear_over_every_department_purpose_and_action() -> None:
    # Exhaustive over the personas with the most permissive context (checked ticket, one
    # customer): the hypothesis test above samples; this one cannot miss a combination.
    seen_clear = 0
    for department in [*_PURPOSE_OF, "hr", "executive"]:
        for purpose in PURPOSES:
            for action in ACTIONS:
                for table, cols in _SENSITIVE.items():
                    if not cols:
                        continue
                    principal = Principal("1", "x", department, "北京")
                    req = AccessRequest(principal, action, purpose, table, tuple(cols), "T-1",
                                        (7,), ticket_checked=True)  # fmt: skip
                    d = ENGINE.decide(req, CATALOG)
                    _check_sensitive_clear(req, d)
                    seen_clear += any(t is Treatment.CLEAR for t in d.treatments.values())
    assert seen_clear > 0  # fraud review does see them: the check above was exercised
