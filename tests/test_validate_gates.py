"""Validate stage, stage gates: every kind of mistake in a gates policy, each with its code, line and column."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from engine.validate import check_paths

from .conftest import gates_text, policy_text
from .test_validate import column_of, line_of, only, problems_of

GATES = """
- to: analysis
  require: [problem_statement, sponsor]
- to: approval
  require: [business_case]
  when: cost <= budget
- to: charter
  approvals: {from: board, rule: majority}
"""


def test_a_valid_gates_policy_has_no_problems(write) -> None:
    assert problems_of(write, gates_text(GATES)) == []


def gates_of(text: str) -> Any:
    return engine.loads(text).policy_set.gates()


def test_both_forms_of_gates_give_the_same_gates() -> None:
    as_list = gates_of(gates_text(GATES))
    as_mapping = gates_of(gates_text("""
        analysis:
          require: [problem_statement, sponsor]
        approval:
          require: [business_case]
          when: cost <= budget
        charter:
          approvals: {from: board, rule: majority}
    """))
    describe = lambda policy: [(g.id, g.from_stage, g.to_stage, [e.field for e in g.require],  # noqa: E731
                                [c.name for c in g.conditions], [(a.group, a.rule, a.needed) for a in g.approvals])
                               for g in policy.gates]
    assert describe(as_list) == describe(as_mapping) == [
        ("definition->analysis", "definition", "analysis", ["problem_statement", "sponsor"], [], []),
        ("analysis->approval", "analysis", "approval", ["business_case"], ["cost <= budget"], []),
        ("approval->charter", "approval", "charter", [], [], [("board", "majority", 3)]),
    ]


def test_forms_an_author_may_reasonably_write() -> None:
    policy = gates_of(gates_text("""
        - to: analysis
          id: intake
          require:
            - problem_statement
            - {field: sponsor, because: Someone owns it.}
          when:
            - cost <= budget
            - {id: low-risk, condition: "risk != 'high'", because: No high risks yet.}
            - all: [cost > 0, budget > 0]
          approvals:
            - {from: pair, rule: unanimous, veto: cfo}
            - {from: board, rule: {at_least: 2}, veto: [ana]}
          because: Analysis costs time.
    """))
    (gate,) = [g for g in policy.gates if g.to_stage == "analysis"]
    assert gate.id == "intake" and gate.because == "Analysis costs time."
    assert [(e.field, e.because) for e in gate.require] == [("problem_statement", None), ("sponsor", "Someone owns it.")]
    assert [(c.name, c.because) for c in gate.conditions] == [
        ("cost <= budget", None), ("low-risk", "No high risks yet."), ("cost > 0 and budget > 0", None)]
    assert [(a.group, a.rule, a.needed, a.veto) for a in gate.approvals] == [
        ("pair", "unanimous", 2, ("cfo",)), ("board", "at_least", 2, ("ana",))]


def test_majority_needs_more_than_half_of_the_group() -> None:
    roster = "roster:\n  four: [a, b, c, d]\n  five: [a, b, c, d, e]\n"
    policy = gates_of(gates_text("""
        - {to: analysis, approvals: [{from: four}, {from: five}]}
    """, roster=roster))
    assert [(a.group, a.rule, a.needed) for a in policy.gates[0].approvals] == [("four", "majority", 3), ("five", "majority", 3)]


# -- stages --------------------------------------------------------------------------------------------


def test_empty_stages(write) -> None:
    text = gates_text("- {to: analysis}", stages="[]")
    code, line, column, _ = only([p for p in problems_of(write, text) if p[0] == "empty-stages"])
    assert (code, line, column) == ("empty-stages", line_of(text, "stages:"), column_of(text, "[]"))


def test_a_single_stage_is_too_few(write) -> None:
    text = gates_text("{}", stages="[definition]")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("empty-stages", line_of(text, "stages:"), 9) and "at least two" in hint


def test_duplicate_stage(write) -> None:
    text = gates_text(GATES, stages="[definition, analysis, approval, analysis, charter]")
    code, line, column, _ = only(problems_of(write, text))
    stages_line = line_of(text, "stages:")
    assert (code, line, column) == ("duplicate-stage", stages_line, text.splitlines()[stages_line - 1].rindex("analysis") + 1)


def test_unknown_stage_in_to_with_did_you_mean(write) -> None:
    text = gates_text(GATES.replace("to: approval", "to: aproval"))
    problems = problems_of(write, text)
    assert ("unknown-stage", line_of(text, "to: aproval"), column_of(text, "aproval"), "did you mean 'approval'?") in problems


def test_unknown_stage_in_from(write) -> None:
    text = gates_text("- {to: analysis, from: defintion}")
    problems = [p for p in problems_of(write, text) if p[0] != "ungated-stage"]
    assert only(problems) == ("unknown-stage", line_of(text, "from:"), column_of(text, "defintion"), "did you mean 'definition'?")


def test_unknown_stage_as_a_mapping_key(write) -> None:
    text = gates_text("analysis: {require: [x]}\napproval: {require: [y]}\ncharterr: {require: [z]}")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column, hint) == ("unknown-stage", line_of(text, "charterr:"), 3, "did you mean 'charter'?")


def test_a_gate_that_skips_a_stage(write) -> None:
    text = gates_text(GATES + "- {from: definition, to: approval, require: [fast_track_case]}\n")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("skip-not-allowed", line_of(text, "fast_track_case"), column_of(text, "definition, to: approval"))
    assert "allow_skip: true" in hint


def test_a_gate_that_skips_a_stage_is_allowed_with_allow_skip(write) -> None:
    text = gates_text(GATES + "- {from: definition, to: approval, require: [fast_track_case]}\n", extra="allow_skip: true\n")
    assert problems_of(write, text) == []


def test_a_gate_that_leads_backwards(write) -> None:
    text = gates_text(GATES + "- {from: charter, to: analysis, id: back}\n")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("invalid-transition", line_of(text, "id: back"), column_of(text, "charter, to: analysis"))


def test_a_gate_to_the_first_stage(write) -> None:
    text = gates_text(GATES + "- {to: definition, id: start}\n")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("invalid-transition", line_of(text, "id: start"), column_of(text, "definition, id: start"))


def test_two_gates_for_the_same_move(write) -> None:
    text = gates_text(GATES + "- {to: charter, require: [charter_document]}\n")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("duplicate-gate", line_of(text, "charter_document"), column_of(text, "charter, require"))
    assert hint.startswith(f"the first is at line {line_of(text, 'to: charter')}")


def test_two_gates_with_the_same_id(write) -> None:
    text = gates_text("- {to: analysis, id: g}\n- {to: approval, id: g}\n- {to: charter, id: h}\n")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("duplicate-gate-id", line_of(text, "to: approval"), column_of(text, "g}", "to: approval"))


def test_to_that_contradicts_the_mapping_key(write) -> None:
    text = gates_text("analysis: {to: approval}\napproval: {}\ncharter: {}")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("gate-target-mismatch", line_of(text, "analysis: {to"), column_of(text, "approval}"))


def test_a_stage_no_gate_leads_to_is_a_warning(write) -> None:
    text = gates_text("- {to: analysis}\n- {to: charter, from: approval}\n")
    report = check_paths([str(write("policy.yaml", text))])
    assert report.errors == []
    (warning,) = report.warnings
    assert (warning.code, warning.span.line, warning.span.column) == (
        "ungated-stage", line_of(text, "stages:"), column_of(text, "approval", "stages:"))
    assert "'approval'" in warning.message
    # a gate written to lead there, with a mistake of its own, is reported for the mistake only
    broken = gates_text("- {to: analysis}\n- {to: approval, from: analisys}\n- {to: charter}\n")
    report = check_paths([str(write("policy.yaml", broken))])
    assert [d.code for d in report.errors] == ["unknown-stage"] and report.warnings == []


# -- roster and approvals ------------------------------------------------------------------------------


def test_unknown_roster_group_with_did_you_mean(write) -> None:
    text = gates_text(GATES.replace("from: board", "from: bord"))
    assert only(problems_of(write, text)) == (
        "unknown-group", line_of(text, "from: bord"), column_of(text, "bord"), "did you mean 'board'?")


def test_unknown_roster_group_without_a_roster(write) -> None:
    text = gates_text(GATES, roster="")
    code, _, _, hint = only(problems_of(write, text))
    assert code == "unknown-group" and "under 'roster'" in hint


def test_veto_member_not_in_the_group(write) -> None:
    text = gates_text(GATES.replace("rule: majority}", "rule: majority, veto: [ana, cfo]}"))
    assert only(problems_of(write, text))[:3] == ("unknown-veto-member", line_of(text, "veto:"), column_of(text, "cfo]"))


def test_a_veto_member_listed_twice(write) -> None:
    text = gates_text(GATES.replace("rule: majority}", "rule: majority, veto: [ana, ana]}"))
    assert only(problems_of(write, text))[:3] == ("duplicate-veto-member", line_of(text, "veto:"),
                                                 column_of(text, "ana]"))


@pytest.mark.parametrize("count, words", [(0, "1 or more"), (-1, "1 or more"), (6, "has 5 members")])
def test_at_least_outside_the_group_size(write, count: int, words: str) -> None:
    text = gates_text(GATES.replace("rule: majority}", f"rule: {{at_least: {count}}}}}"))
    path = write("policy.yaml", text)
    (problem,) = check_paths([str(path)]).errors
    assert (problem.code, problem.span.line, problem.span.column) == (
        "invalid-quorum", line_of(text, "at_least"), column_of(text, f"{count}}}", "at_least"))
    assert words in problem.message


def test_a_member_listed_twice_in_a_group(write) -> None:
    text = gates_text(GATES, roster="roster:\n  board: [ana, ben, ana]\n")
    assert only(problems_of(write, text))[:3] == ("duplicate-member", line_of(text, "board: [ana"), column_of(text, "ana]"))


def test_evidence_required_twice(write) -> None:
    text = gates_text(GATES.replace("[problem_statement, sponsor]", "[problem_statement, sponsor, sponsor]"))
    assert only(problems_of(write, text))[:3] == ("duplicate-evidence", line_of(text, "sponsor, sponsor"), column_of(text, "sponsor]"))


def test_two_criteria_of_a_gate_by_one_name(write) -> None:
    # results and test cases (`unmet: [board]`) name criteria: two of one name could not be told apart
    gates = GATES.replace("  approvals: {from: board, rule: majority}",
                          "  require: [board]\n  approvals: [{from: board}, {from: board, rule: unanimous, id: all}]")
    text = gates_text(gates)
    problems = problems_of(write, text)
    assert [problem[:3] for problem in problems] == [("duplicate-criterion", line_of(text, "approvals: ["), column_of(text, "{from: board}"))]
    assert problems[0][3] == f"the evidence at line {line_of(text, 'require: [board]')} is named so too; give this approval an 'id' of its own"


# -- inputs and conditions -------------------------------------------------------------------------------


def test_implicit_fields_cannot_be_declared(write) -> None:
    inputs = "inputs:\n  cost: number\n  budget: number\n  stage: string\n"
    text = gates_text(GATES, inputs=inputs)
    assert only(problems_of(write, text))[:3] == ("reserved-input", line_of(text, "stage: string"), 3)


def test_unknown_name_in_a_gate_condition(write) -> None:
    text = gates_text(GATES.replace("when: cost <= budget", "when: cost <= budgte"))
    assert only(problems_of(write, text)) == (
        "unknown-name", line_of(text, "budgte"), column_of(text, "budgte"), "did you mean 'budget'?")


def test_type_mismatch_in_applies_to(write) -> None:
    text = gates_text(GATES, extra="applies_to: cost > 'a lot'\n")
    assert only(problems_of(write, text))[:2] == ("type-mismatch", line_of(text, "applies_to"))


def test_stage_is_checked_against_the_stages(write) -> None:
    text = gates_text(GATES, extra="applies_to: stage != 'analisys'\n")
    assert only(problems_of(write, text)) == (
        "enum-value", line_of(text, "applies_to"), column_of(text, "'analisys'"), "did you mean 'analysis'?")


def test_outcome_is_checked_against_the_classification_outcomes(write) -> None:
    write("set/intake.yaml", policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}"))
    text = gates_text(GATES, extra="applies_to: outcome in ['initative', 'portfolio_review']\n")
    gates = write("set/gates.yaml", text)
    report = check_paths([str(gates.parent)])
    (problem,) = report.errors
    assert (problem.code, problem.span.line, problem.span.column, problem.hint) == (
        "enum-value", line_of(text, "applies_to"), column_of(text, "'initative'"), "did you mean 'initiative'?")
    # alone, the gates policy does not know the outcomes, and reads any text
    assert problems_of(write, text) == []


@pytest.mark.parametrize("hit, codes", [("collect", ["outcome-of-collect"]), ("unique", [])])
def test_gates_that_read_the_outcome_need_a_classification_that_gives_one(write, hit: str, codes: list[str]) -> None:
    write("set/intake.yaml", policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}", hit=hit))
    text = gates_text(GATES, extra="applies_to: outcome == 'initiative'\n")
    gates = write("set/gates.yaml", text)
    report = check_paths([str(gates.parent)])
    assert [(p.code, p.span.file, p.span.line) for p in report.errors] == [
        (code, str(gates), line_of(text, "applies_to")) for code in codes]


def test_a_condition_entry_needs_a_condition(write) -> None:
    text = gates_text(GATES.replace("when: cost <= budget", "when:\n    - {id: x, because: y}"))
    code, line, _, _ = only(problems_of(write, text))
    assert (code, line) == ("missing-key", line_of(text, "id: x"))


# -- structure: the published schema --------------------------------------------------------------------


def test_unknown_key_in_a_gate(write) -> None:
    text = gates_text(GATES.replace("require: [business_case]", "requires: [business_case]"))
    assert only(problems_of(write, text)) == (
        "unknown-key", line_of(text, "requires:"), column_of(text, "requires:"), "did you mean 'require'?")


def test_a_listed_gate_needs_to(write) -> None:
    text = gates_text(GATES + "- {require: [x]}\n")
    code, line, _, _ = only(problems_of(write, text))
    assert (code, line) == ("missing-key", line_of(text, "require: [x]"))


def test_unknown_quorum_rule(write) -> None:
    text = gates_text(GATES.replace("rule: majority", "rule: majorty"))
    assert only(problems_of(write, text)) == (
        "invalid-value", line_of(text, "majorty"), column_of(text, "majorty"), "did you mean 'majority'?")


def test_a_problem_in_one_kind_does_not_hide_the_other(write) -> None:
    write("set/intake.yaml", policy_text("- {id: r1, outcome: nope, when: 'recurrence_90d > 1'}"))
    write("set/gates.yaml", gates_text(GATES.replace("from: board", "from: bord")))
    report = check_paths([str(write("set/x.txt", "").parent)])
    assert sorted(d.code for d in report.errors) == ["unknown-group", "unknown-outcome"]


def test_a_gate_condition_nested_too_deeply_is_an_error(write) -> None:
    import json

    when: object = "cost <= budget"
    for _ in range(16):
        when = {"not": {"not": when}}
    text = gates_text(GATES.replace("when: cost <= budget", f"when: {json.dumps(when)}"))
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("condition-too-deep", line_of(text, '{"not"'), column_of(text, '{"not"'))
