"""Lint: planted dead, shadowed and overlapping rules and gaps are found, each witness is checked
by classifying it, and clean policies give no findings."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from engine.errors import ItemError
from engine.lint import Finding, lint_classification

from .conftest import POLICIES

HEADER = """\
rulebook: 1
kind: classification
name: planted
inputs:
  type: {type: string, enum: [incident, request, problem]}
  level: {type: string, enum: [low, medium, high, critical], default: low}
  count: {type: integer, minimum: 0}
  cost: {type: number, minimum: 0, maximum: 1000000}
  due: date
  title: string
  tags: {type: array, items: {type: string, enum: [vip, legacy]}}
outcomes: [routine, improve, initiative, portfolio]
"""


def lint(rules: str, hit: str = "first", default: str | None = "routine") -> tuple[engine.Policy, list[Finding]]:
    text = HEADER + f"hit: {hit}\n" + (f"default: {default}\n" if default else "") + "rules:\n" + rules
    policy = engine.loads(text)
    findings = lint_classification(policy.classification)
    for finding in findings:
        if finding.witness is not None:
            demonstrates(policy, finding)
    return policy, findings


def demonstrates(policy: engine.Policy, finding: Finding) -> None:
    """Classify the witness as a user would and check that it shows what the finding says."""
    item = finding.witness
    if finding.code == "shadowed-rule":
        decision = policy.classify(item, trace=True)
        assert decision.rule in finding.related, (finding, decision)
        rule = policy.classification.rule(finding.rule)
        checked = policy.classifier.check(item)
        nodes: list[Any] = [None] * policy.classifier.slots
        assert policy.classifier.program.evaluate(rule.when, checked.values, checked.present, nodes) is True
    elif finding.code == "overlapping-rules":
        with pytest.raises(ItemError, match="all match") as raised:
            policy.classify(item)
        assert f"'{finding.related[0]}'" in raised.value.message and f"'{finding.rule}'" in raised.value.message
    elif finding.code == "gap":
        with pytest.raises(ItemError, match="no rule matched"):
            policy.classify(item)
    else:
        raise AssertionError(f"unexpected witness on {finding}")


def codes(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.code, f.rule) for f in findings if f.code not in ("unused-input", "unused-outcome")]


def test_contradictory_comparisons_make_a_dead_rule() -> None:
    _, findings = lint("  - {id: never, outcome: portfolio, when: 'count > 5 and count < 3'}\n"
                       "  - {id: fine, outcome: improve, when: 'count >= 3'}\n")
    (dead,) = [f for f in findings if f.code == "dead-rule"]
    assert (dead.rule, dead.severity, dead.span.line) == ("never", "error", HEADER.count("\n") + 4)
    assert "`count > 5` and `count < 3` cannot all hold" in dead.message


def test_two_values_of_one_enum_make_a_dead_rule() -> None:
    _, findings = lint("  - id: never\n    outcome: portfolio\n    when:\n      all:\n"
                       "        - level == 'low'\n        - level == 'high'\n")
    assert codes(findings) == [("dead-rule", "never")]


def test_declared_bounds_make_a_dead_rule() -> None:
    _, findings = lint("  - {id: negative, outcome: portfolio, when: 'cost < 0 or cost > 2000000'}\n")
    assert codes(findings) == [("dead-rule", "negative")]


def test_a_rule_after_a_wider_one_is_shadowed_with_a_witness() -> None:
    _, findings = lint("  - {id: recurring, outcome: improve, when: 'count >= 3'}\n"
                       "  - {id: very, outcome: initiative, when: \"count >= 10 and level in ['high', 'critical']\"}\n")
    (shadowed,) = [f for f in findings if f.code == "shadowed-rule"]
    assert (shadowed.rule, shadowed.related, shadowed.span.line) == ("very", ("recurring",), HEADER.count("\n") + 5)
    assert shadowed.witness is not None


def test_several_rules_together_can_shadow_one() -> None:
    _, findings = lint("  - {id: low-count, outcome: improve, when: 'count < 5'}\n"
                       "  - {id: high-count, outcome: initiative, when: 'count >= 5'}\n"
                       "  - {id: any-count, outcome: portfolio, when: 'count >= 0'}\n")
    (shadowed,) = [f for f in findings if f.code == "shadowed-rule"]
    assert shadowed.rule == "any-count" and set(shadowed.related) == {"low-count", "high-count"}


def test_priority_order_decides_shadowing() -> None:
    rules = ("  - {id: wide, outcome: improve, when: 'count >= 3', priority: 1}\n"
             "  - {id: narrow, outcome: initiative, when: 'count >= 10', priority: 5}\n")
    _, findings = lint(rules, hit="priority")
    assert codes(findings) == []  # the narrow rule has the higher priority: both can fire
    _, findings = lint(rules.replace("priority: 5", "priority: 0"), hit="priority")
    assert codes(findings) == [("shadowed-rule", "narrow")]
    (shadowed,) = [f for f in findings if f.code == "shadowed-rule"]
    assert "higher-priority rule 'wide' decides first" in shadowed.message
    assert shadowed.hint.startswith("give it a higher priority than the rules that shadow it")


def test_a_rule_shadowed_itself_is_not_named_as_shadowing_another() -> None:
    # 'tied' never decides (the earlier 'wide' of its priority does), so only 'wide' shadows 'low'
    _, findings = lint("  - {id: wide, outcome: improve, when: 'count >= 3', priority: 10}\n"
                       "  - {id: tied, outcome: improve, when: \"count >= 3 and level == 'high'\", priority: 10}\n"
                       "  - {id: low, outcome: initiative, when: 'count >= 5', priority: 5}\n", hit="priority")
    assert [(f.rule, f.related, f.message.split(": ", 1)[1], f.hint.split(" the rules")[0]) for f in findings
            if f.code == "shadowed-rule"] == [
        ("tied", ("wide",), "whenever it matches, earlier equal-priority rule 'wide' decides first", "move it before"),
        ("low", ("wide",), "whenever it matches, higher-priority rule 'wide' decides first",
         "give it a higher priority than")]


def test_missing_data_is_not_shadowing() -> None:
    # 'count >= 3' is unknown when count is missing; the second rule still fires then
    _, findings = lint("  - {id: recurring, outcome: improve, when: 'count >= 3'}\n"
                       "  - {id: no-count, outcome: initiative, when: 'not has(count) or count >= 10'}\n")
    assert codes(findings) == []


def test_overlapping_rules_under_unique_with_a_witness() -> None:
    _, findings = lint("  - {id: problems, outcome: improve, when: \"type == 'problem'\"}\n"
                       "  - {id: costly, outcome: initiative, when: 'cost > 1000'}\n"
                       "  - {id: cheap, outcome: routine, when: \"cost <= 1000 and type != 'problem'\"}\n", hit="unique")
    assert codes(findings) == [("overlapping-rules", "costly")]


def test_overlaps_under_unique_that_rest_on_parts_not_analysed_are_one_note_a_rule() -> None:
    _, findings = lint("  - {id: vpn, outcome: improve, when: \"matches(title, 'vpn')\"}\n"
                       "  - {id: dns, outcome: initiative, when: \"matches(title, 'dns')\"}\n"
                       "  - {id: mail, outcome: portfolio, when: \"matches(title, 'mail') and count > 2\"}\n"
                       "  - {id: none, outcome: routine, when: 'count < 0'}\n", hit="unique")
    overlaps = [(f.rule, f.message, f.related) for f in findings if "may overlap" in f.message]
    assert overlaps == [
        ("dns", "rule 'dns' may overlap rule 'vpn'; not analysed: matches()", ("vpn",)),
        ("mail", "rule 'mail' may overlap rules 'vpn' and 'dns'; not analysed: matches()", ("vpn", "dns")),
    ]
    assert ("dead-rule", "none") in codes(findings)
    many = "".join(f"  - {{id: r{n}, outcome: improve, when: \"matches(title, 'x{n}')\"}}\n" for n in range(13))
    (last,) = [f for f in lint(many, hit="unique")[1] if f.rule == "r12" and "may overlap" in f.message]
    assert last.message.startswith("rule 'r12' may overlap rules 'r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', "
                                   "'r8', 'r9' and 2 more;") and len(last.related) == 12


def test_a_gap_without_a_default_with_a_witness() -> None:
    _, findings = lint("  - {id: problems, outcome: improve, when: \"type == 'problem'\"}\n", default=None)
    (gap,) = [f for f in findings if f.code == "gap"]
    assert gap.witness is not None and gap.severity == "error"


def test_complete_rules_leave_no_gap() -> None:
    _, findings = lint("  - {id: with-count, outcome: improve, when: 'count >= 0'}\n"
                       "  - {id: without, outcome: routine, when: 'not has(count)'}\n", default=None)
    assert codes(findings) == []


def test_what_cannot_be_decided_is_said_not_guessed() -> None:
    _, findings = lint("  - {id: vpn, outcome: improve, when: \"matches(title, '^VPN')\"}\n"
                       "  - {id: vpn-again, outcome: initiative, when: \"matches(title, '^VPN')\"}\n")
    assert ("shadowed-rule", "vpn-again") not in codes(findings)
    assert ("not-analysed", "vpn") in codes(findings) and ("not-analysed", "vpn-again") in codes(findings)


def test_arithmetic_that_floats_round_is_not_analysed() -> None:
    # over exact fractions neither rule could fire; with floats, both do
    policy, findings = lint("  - {id: rounded, outcome: improve, when: 'cost + 0.1 + 0.2 > cost + 0.3'}\n"
                            "  - {id: divided, outcome: initiative, when: 'count / 49 * 49 != count'}\n"
                            "  - {id: whole, outcome: portfolio, when: 'count + 1 == count'}\n", default="routine")
    assert codes(findings) == [("not-analysed", "rounded"), ("not-analysed", "divided"), ("dead-rule", "whole")]
    assert policy.decide({"type": "incident", "count": 1, "cost": 0}).rule == "rounded"
    assert policy.decide({"type": "incident", "count": 1, "cost": 1}).rule == "divided"


def test_a_not_analysed_note_names_the_operator_as_a_policy_writes_it() -> None:
    _, findings = lint("  - {id: odd, outcome: improve, when: 'count % 2 == 1 and count % 3 == 1'}\n"
                       "  - {id: squared, outcome: initiative, when: 'count ** 2 > 4'}\n")
    assert [f.message.split("not modelled: ")[1] for f in findings if f.code == "not-analysed"] == [
        "% (remainders)", "** (powers)"]  # each once


def test_days_since_is_not_analysed_since_it_counts_to_each_run_s_date() -> None:
    # no claim may rest on one day's date
    _, findings = lint("  - {id: aged, outcome: improve, when: \"days_since(due) > 30 and due > '2026-01-01'\"}\n"
                       "  - {id: aged-again, outcome: initiative, when: 'days_since(due) > 60'}\n")
    assert codes(findings) == [("not-analysed", "aged"), ("not-analysed", "aged-again")]
    noted = next(f for f in findings if f.code == "not-analysed")
    assert noted.message.endswith("not modelled: days_since() (it counts to each run's as-of date)")


def test_a_constant_too_large_for_a_float_is_not_analysed() -> None:
    _, findings = lint("  - {id: huge, outcome: improve, when: 'cost > 1e400 or count > -1e400'}\n")
    assert ("not-analysed", "huge") in codes(findings)


def test_dates_lists_and_functions_are_analysed() -> None:
    _, findings = lint("  - {id: tagged, outcome: improve, when: \"'vip' in tags\"}\n"
                       "  - {id: tagged-again, outcome: initiative, when: \"'vip' in tags and 'legacy' in tags\"}\n"
                       "  - {id: overdue, outcome: portfolio, when: \"due < '2026-01-01' and due > '2026-02-01'\"}\n"
                       "  - {id: odd, outcome: routine, when: 'abs(count - 5) < 0'}\n")
    assert codes(findings) == [("shadowed-rule", "tagged-again"), ("dead-rule", "overdue"), ("dead-rule", "odd")]


def test_unused_inputs_and_outcomes_are_warnings() -> None:
    _, findings = lint("  - {id: a, outcome: improve, when: 'count >= 3'}\n")
    warnings = {(f.code, f.message.split("'")[1]) for f in findings if f.severity == "warning"}
    assert ("unused-input", "title") in warnings and ("unused-outcome", "portfolio") in warnings
    assert ("unused-outcome", "routine") not in warnings  # the default produces it


def test_the_shipped_policy_is_clean() -> None:
    findings = lint_classification(engine.load(str(POLICIES)).classification)
    assert [f for f in findings if f.severity == "error"] == []
    assert [(f.code, f.message) for f in findings if f.severity == "warning"] == [
        ("unused-input", "input 'service' is declared but no rule reads it")]


# -- soundness on random policies -------------------------------------------------------------------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engine.errors import PolicyError  # noqa: E402

from .test_compile import conditions, items, policy_with  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(conditions(), min_size=1, max_size=4), hit=st.sampled_from(["first", "priority", "unique"]),
       default=st.booleans(), samples=st.lists(items(), min_size=5, max_size=15))
def test_findings_are_sound_on_random_policies(rules: list[str], hit: str, default: bool, samples: list[dict]) -> None:
    try:
        policy = policy_with(rules, hit, default)
    except PolicyError:
        assume(False)
        return
    classifier = policy.classifier
    findings = lint_classification(policy.classification, timeout_ms=200)
    for finding in findings:
        if finding.witness is not None:
            demonstrates(policy, finding)
    order = [r.id for r in __import__("engine.compile", fromlist=["rule_order"]).rule_order(policy.classification)]
    for item in samples:
        try:
            checked = classifier.check(item)
        except ItemError:
            continue
        holds, fails = {}, set()
        for rule in policy.classification.rules:
            nodes: list[Any] = [None] * classifier.slots
            try:
                holds[rule.id] = classifier.program.evaluate(rule.when, checked.values, checked.present, nodes) is True
            except Exception:
                holds[rule.id] = False
                fails.add(rule.id)
        for finding in findings:
            if finding.code == "dead-rule":
                assert not holds[finding.rule], (finding, item)
            if finding.code == "shadowed-rule" and holds[finding.rule]:
                earlier = order[: order.index(finding.rule)]
                # an earlier rule that fails on the item (division by zero) makes it an error
                # record, so the shadowed rule does not decide it either
                assert any(holds[name] or name in fails for name in earlier), (finding, item)


# -- gates policies ---------------------------------------------------------------------------------

from engine.lint import lint_gates  # noqa: E402

GATES = """\
rulebook: 1
kind: gates
name: planted-gates
stages: [definition, analysis, approval]
applies_to: "outcome in ['initiative', 'portfolio_review']"
inputs:
  cost: {type: number, minimum: 0}
  budget: {type: number, minimum: 0}
  risk: {type: string, enum: [low, high], default: low}
  spare: string
roster:
  board: [ana, ben, cho]
  unused_board: [dev]
gates:
  - to: analysis
    require: [problem_statement]
    when:
      - id: costs-something
        when: cost > 0
  - to: approval
    when:
      - id: impossible-budget
        when: budget < 0
      - id: contradictory
        when:
          all:
            - risk == 'low'
            - risk == 'high'
      - id: outside-scope
        when: outcome == 'routine_ticket'
    approvals: {from: board, rule: majority}
"""


def test_gate_conditions_no_item_can_meet_are_errors() -> None:
    policy = engine.loads(GATES).policy_set.gates()
    findings = lint_gates(policy)
    errors = {(f.code, f.message.split("'")[3]) for f in findings if f.severity == "error"}
    assert errors == {("gate-never-passes", "impossible-budget"), ("gate-never-passes", "contradictory"),
                      ("gate-never-passes", "outside-scope")}
    assert all(f.span.line > 1 for f in findings if f.severity == "error")
    warnings = {(f.code, f.message.split("'")[1]) for f in findings if f.severity == "warning"}
    assert warnings == {("unused-input", "spare"), ("unused-group", "unused_board")}
    (unused,) = [f for f in findings if f.code == "unused-group"]
    assert GATES.splitlines()[unused.span.line - 1].strip().startswith("unused_board:")  # where it is declared


def test_gates_that_apply_to_nothing() -> None:
    text = GATES.replace("applies_to: \"outcome in ['initiative', 'portfolio_review']\"",
                         "applies_to: \"cost > 10 and cost < 5\"")
    findings = lint_gates(engine.loads(text).policy_set.gates())
    assert [f.code for f in findings if f.code == "gates-never-apply"] == ["gates-never-apply"]


def test_the_shipped_gates_are_clean() -> None:
    policy = engine.load(str(POLICIES)).policy_set.gates()
    assert [f for f in lint_gates(policy) if f.severity != "info"] == []
