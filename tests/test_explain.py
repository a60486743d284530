"""Explain stage: golden explanations an auditor reads, and the trace as data."""

from __future__ import annotations

import json

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
    explanation = engine.load(policy_path).classify(item).explain(fmt)
    golden = GOLDEN / "explain" / f"{name}.{ {'text': 'txt', 'markdown': 'md', 'json': 'json'}[fmt] }"
    if update_goldens or not golden.exists():
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
    for item in ({"count": 4, "level": "high", "funded": True, "tags": ["vip"], "meta": {}}, {"level": "low"}, {}):
        decision = generated.classify(item, trace=True)
        assert decision_trace_record(decision) == trace_record(decision.trace)
