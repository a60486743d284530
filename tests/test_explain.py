"""Explain stage: golden explanations an auditor reads, and the trace as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine

from .conftest import GOLDEN, ROOT

CASES = {
    # name: (policy, item, format)
    "first-rule": ("policies", {"id": "CHG-1001", "type": "change", "estimated_cost": 320000,
                                "requires_funding": True}, "text"),
    "middle-rule": ("policies", {"id": "INC-20431", "type": "incident", "service": "VPN gateway",
                                 "service_criticality": "high", "recurrence_90d": 7, "departments_affected": 2}, "text"),
    "default": ("policies", {"id": "IDEA-77", "type": "idea", "departments_affected": 2}, "text"),
    "middle-rule-markdown": ("policies", {"id": "INC-20431", "type": "incident", "service_criticality": "high",
                                          "recurrence_90d": 7}, "markdown"),
    "missing-data-collect": ("tests/golden/explain/unknowns-policy.yaml",
                             {"id": "CHG-88", "tags": ["database"], "rollback_tested": False}, "text"),
    "collect-default-json": ("tests/golden/explain/unknowns-policy.yaml",
                             {"id": "CHG-89", "risk": "low", "users_affected": 3, "tags": []}, "json"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_explanations(name: str, monkeypatch: pytest.MonkeyPatch, update_goldens: bool) -> None:
    monkeypatch.chdir(ROOT)  # explanations cite files as the user named them
    policy_path, item, fmt = CASES[name]
    matches_golden(GOLDEN / "explain", name, fmt, engine.load(policy_path).classify(item).explain(fmt), update_goldens)


def matches_golden(folder: Path, name: str, fmt: str, explanation: str, update: bool) -> None:
    golden = folder / f"{name}.{ {'text': 'txt', 'markdown': 'md', 'json': 'json'}[fmt] }"
    if update or not golden.exists():
        golden.write_text(explanation, encoding="utf-8")
    assert explanation == golden.read_text(encoding="utf-8")


def test_text_explanation_names_everything_an_auditor_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    policy = engine.load("policies")
    _, item, _ = CASES["middle-rule"]
    text = policy.classify(item).explain()
    rule = policy.classification.rule("recurring-high-criticality")
    assert "Item 'INC-20431': initiative" in text
    assert f"Rule 'recurring-high-criticality' fired ({rule.span.file}:{rule.span.line})" in text
    assert rule.because in text
    assert "service_criticality = 'high'" in text and "recurrence_90d = 7" in text
    for earlier in ("major-investment", "critical-recurring-disruption", "strategic-funded-demand"):
        assert f"'{earlier}'" in text
    assert "estimated_cost = 0 (default)" in text
    assert f"sha256 {policy.sha256}" in text and policy.version in text


def test_missing_fields_are_named() -> None:
    policy = engine.load(str(GOLDEN / "explain" / "unknowns-policy.yaml"))
    text = policy.classify({"id": "X", "tags": []}).explain()
    assert "Missing data: 'risk', 'users_affected' were not in the item" in text
    assert "[unknown]" not in text and "unknown:" in text


def test_json_explanation_is_the_trace_as_data() -> None:
    policy = engine.load(str(GOLDEN / "explain" / "unknowns-policy.yaml"))
    document = json.loads(policy.classify({"id": "X", "risk": "high", "tags": ["database"]}).explain("json"))
    assert document["outcome"] == ["cab_review", "peer_review"]
    first = document["trace"]["rules"][0]
    assert first["rule"] == "high-risk" and first["result"] == "true"
    assert first["condition"]["kind"] == "any"
    assert first["condition"]["children"][0]["inputs"] == [{"name": "risk", "from": "item", "value": "high"}]
    assert first["condition"]["children"][1]["result"] == "skipped"
    assert first["source"].endswith("unknowns-policy.yaml:19")


def test_tracing_never_changes_the_decision() -> None:
    policy = engine.load(str(ROOT / "policies"))
    for item in (case[1] for case in CASES.values() if case[0] == "policies"):
        plain, traced = policy.classify(item), policy.classify(item, trace=True)
        assert (plain.outcome, plain.rule) == (traced.outcome, traced.rule)
        assert plain.trace == traced.trace  # computed on demand, the same either way


def test_goldens_are_not_stale() -> None:
    names = {path.stem for path in (GOLDEN / "explain").iterdir() if path.suffix in (".txt", ".md", ".json")}
    assert names == set(CASES)
    names = {path.stem for path in (GOLDEN / "gates").iterdir() if path.suffix in (".txt", ".md", ".json")}
    assert names == set(GATE_CASES)


def test_stream_trace_records_equal_the_trace_objects() -> None:
    """Records for --explain are built from what the evaluation recorded; they must say exactly
    what the readable Trace says, for every rule, node and input."""
    from engine.explain import decision_trace_record, trace_record

    from .test_compile import policy_with

    for path in (str(ROOT / "policies"), str(GOLDEN / "explain" / "unknowns-policy.yaml")):
        policy = engine.load(path)
        for item in [case[1] for case in CASES.values()] + [{"id": 1, "type": "problem", "risk": "high"}, {"id": 2}]:
            try:
                decision = policy.classify(item, trace=True)
            except engine.ItemError:
                continue
            assert decision_trace_record(decision) == trace_record(decision.trace)
    generated = policy_with(["count >= 3 and level == 'high'", "not funded or 'vip' in tags", "has(meta.flag)"], "collect")
    for item in ({"count": 4, "level": "high", "funded": True, "tags": ["vip"], "meta": {}, "ticket": "T-1"},
                 {"level": "low", "ticket": "T-2"}, {"ticket": "T-3"}):
        decision = generated.classify(item, trace=True)
        assert decision_trace_record(decision) == trace_record(decision.trace)


def test_traces_past_the_shapes_kept_are_encoded_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import explain
    from engine.jsonio import encode

    monkeypatch.setattr(explain, "_SHAPE_BYTES_KEPT", 1)
    policy = engine.load(str(ROOT / "policies"))
    for item in [case[1] for case in CASES.values() if case[0] == "policies"]:
        decision = policy.classify(item, trace=True)
        assert explain.decision_trace_json(decision) == encode(explain.decision_trace_record(decision))
    assert len(explain._templates(policy.classifier).shapes) == 1  # the first, which went past the bytes kept


# -- gate results ------------------------------------------------------------------------------------

INITIATIVE = {"id": "INI-0301", "type": "idea", "estimated_cost": 140000, "requires_funding": True, "stage": "approval"}
FAST_TRACK = "tests/golden/gates/fast-track.yaml"


def ballot(*pairs: str, at: str | None = None) -> list[dict[str, str]]:
    return [{"by": pair[:-1], "vote": "approve" if pair[-1] == "+" else "reject", **({"at": at} if at else {})}
            for pair in pairs]


GATE_CASES = {
    # name: (policy, item, target stage, format)
    "held-by-approval-and-evidence": ("policies", {**INITIATIVE, "approvals": ballot("cio+", "cfo+", "coo-")}, None, "text"),
    "veto-outsider-and-second-vote": ("policies", {
        **INITIATIVE, "resource_plan": "Two squads for two quarters", "risk": "high", "risk_treatment_approved": True,
        "approvals": ballot("cio+", "coo+", "chief_digital_officer+", "head_of_architecture+", at="2026-11-10")
        + ballot("head_of_architecture-", "auditor+", "cfo-", at="2026-11-12")}, None, "text"),
    "unknown-condition-markdown": ("policies", {
        **INITIATIVE, "stage": "analysis", "business_case": "https://wiki.example.org/bc", "cost_estimate": "140,000",
        "risk_assessment": "", "budget_available": 300000, "capacity_needed_fte": 3}, None, "markdown"),
    "refused-skip": ("policies", {**INITIATIVE, "stage": "definition", "problem_statement": "Slow.", "sponsor": "CIO"},
                     "approval", "text"),
    "not-applicable": ("policies", {"id": "INC-77", "type": "incident", "stage": "definition"}, None, "text"),
    "pass-json": ("policies", {**INITIATIVE, "stage": "definition", "outcome": "initiative", "rule": "needs-funding",
                               "problem_statement": "Slow.", "sponsor": "CIO"}, None, "json"),
    "allowed-skip-pass": (FAST_TRACK, {"id": "EXP-9", "stage": "idea", "users": 40, "security_review": "passed",
                                       "pilot_plan": "10 users in finance", "rollout_plan": "waves by region",
                                       "support_runbook": "KB-881", "approvals": ballot("alex+", "bo+", "chris+")},
                          "rollout", "text"),
    "allowed-skip-held-markdown": (FAST_TRACK, {"id": "EXP-10", "stage": "idea", "users": 400, "pilot_plan": "all staff",
                                                "rollout_plan": "big bang", "approvals": ballot("alex+", "bo+")},
                                   "rollout", "markdown"),
}


@pytest.mark.parametrize("name", sorted(GATE_CASES))
def test_golden_gate_explanations(name: str, monkeypatch: pytest.MonkeyPatch, update_goldens: bool) -> None:
    monkeypatch.chdir(ROOT)
    policy_path, item, to, fmt = GATE_CASES[name]
    matches_golden(GOLDEN / "gates", name, fmt, engine.load(policy_path).gate(item, to=to).explain(fmt), update_goldens)


def test_a_gate_explanation_first_says_what_holds_the_item_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    policy = engine.load("policies")
    _, item, _, _ = GATE_CASES["held-by-approval-and-evidence"]
    lines = policy.gate(item).explain().splitlines()
    assert lines[:4] == [
        "Item 'INI-0301': held at 'approval', not ready for 'charter'",
        "",
        "What holds it back:",
        "  - Missing evidence: resource_plan.",
    ]
    assert lines[4] == "  - Approval by 'investment_board': 2 of 6 members approved; a majority needs 4."
    gate = policy.gates.gates[-1]
    text = "\n".join(lines)
    assert f"({gate.span.file}:{gate.span.line})" in text and f"sha256 {policy.gates.sha256}" in text
    assert "rejected: coo" in text and "not voted: chief_digital_officer" in text


def test_a_gate_explanation_as_json_is_the_record_with_its_trace() -> None:
    policy = engine.load(str(ROOT / "policies"))
    _, item, _, _ = GATE_CASES["unknown-condition-markdown"]
    document = json.loads(policy.gate(item).explain("json"))
    assert document["result"] == "fail"
    gate = document["trace"]["gates"][0]
    assert (gate["from"], gate["to"]) == ("analysis", "approval")
    assert gate["conditions"][1]["condition"]["inputs"][1] == {"name": "capacity_available_fte", "from": "missing"}
    assert document["trace"]["applies_to"]["result"] == "true"


def test_markdown_shows_what_an_item_gave_as_written_not_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    policy = engine.load("policies")
    item = {"id": "<b>A</b>", "type": "idea", "service_criticality": "high", "recurrence_90d": 7,
            "stage": "approval", "estimated_cost": 140000, "requires_funding": True, "resource_plan": "*all* <hands>",
            "approvals": [{"by": "<script>", "vote": "approve"}]}
    decision = policy.classify(item, trace=True).explain("markdown")
    assert decision.startswith("## Item '\\<b\\>A\\</b\\>': initiative")
    gate = policy.gate(item).explain("markdown")
    assert gate.startswith("## Item '\\<b\\>A\\</b\\>': held at `approval`")
    assert "evidence `resource_plan` (policies/initiative-gates.yaml:95): '\\*all\\* \\<hands\\>'" in gate
    assert "not members of `investment_board`: \\<script\\> (approve)" in gate
    assert "of `<script>`, who is not on the roster" in gate  # within a code span, as written
    assert "Item '<b>A</b>'" in policy.classify(item, trace=True).explain()  # plain text shows it plainly


def test_a_veto_member_voting_again_counts_in_every_group_they_are_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # cfo's reject vetoes the budget release and is one of the board's rejects: cfo approving
    # is all it takes, and the advice asks for nothing more
    monkeypatch.chdir(ROOT)
    policy = engine.load("policies")
    _, item, _, _ = GATE_CASES["veto-outsider-and-second-vote"]
    text = policy.gate(item).explain()
    advice = text.split("What would unblock it:\n")[1].split("\n\n")[0].splitlines()
    assert advice == [("  - 'cfo' to vote again and approve: a veto member's reject stands until they vote again "
                       "(the last vote counts).")]
    assert policy.gate({**item, "approvals": item["approvals"] + ballot("cfo+", at="2026-11-13")}).result == "pass"


def test_rules_not_considered_under_priority_are_said_to_follow_in_priority_order() -> None:
    policy = engine.loads("rulebook: 1\nkind: classification\nname: pri\ninputs: {n: integer}\noutcomes: [a, b]\n"
                          "hit: priority\nrules:\n  - {id: r1, outcome: a, when: n > 1, priority: 1}\n"
                          "  - {id: r2, outcome: b, when: n > 2, priority: 5}\n"
                          "  - {id: r3, outcome: b, when: n > 3, priority: 5}\n")
    text = policy.classify({"n": 3}, trace=True).explain()
    assert "Not considered, because a rule tried before them in priority order decided: 'r3', 'r1'." in text


def test_members_who_abstained_are_asked_to_approve_as_those_who_rejected_are() -> None:
    from .test_gates import quorum

    # five members, a majority needs 3: ana abstained, ben rejected, cho approved; dev and eli have not voted
    ballot = [{"by": "ana", "vote": "abstain"}, {"by": "ben", "vote": "reject"}, {"by": "cho", "vote": "approve"}]
    result = quorum("unanimous").gate({"id": "A", "stage": "approval", "approvals": ballot})
    assert ("4 more approvals from 'board': everyone who has not voted (dev, eli) and 2 of those who abstained or "
            "rejected (ana, ben) changing their vote.") in result.explain()
