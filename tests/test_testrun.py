"""Test stage: cases run through the API, pass or fail as their expectations say, and coverage
counts what they exercised."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import PolicyError, UsageError
from engine.testrun import collect, run_files, run_tests

from .conftest import POLICIES, gates_text, policy_text
from .test_schema import edited, json_values
from .test_validate_tests import GATES, RULES, cases_file, policy_set  # noqa: F401 - a fixture


def run_cases(write, cases: str, *, policy: str = "..", rules: str = RULES, hit: str = "first",
              default: str | None = "routine_ticket") -> engine.TestRun:
    write("set/intake.yaml", policy_text(rules, hit=hit, default=default))
    write("set/gates.yaml", gates_text(GATES))
    return run_tests(str(write("set/tests/cases.yaml", cases_file(cases, policy=policy))))


def statuses(run: engine.TestRun) -> dict[str, str]:
    return {result.name: result.status for result in run.results}


def test_the_shipped_tests_pass_and_cover_every_rule_default_and_criterion() -> None:
    run = run_tests(str(POLICIES / "tests"))
    assert (run.passed, run.failed) == (35, 0)
    assert run.coverage.missed == () and run.coverage.percent == 100.0
    policy = engine.load(str(POLICIES))
    rules = {t.name for t in run.coverage.targets if t.kind == "rule"}
    criteria = {(t.gate, t.name) for t in run.coverage.targets if t.kind in ("evidence", "condition", "approval")}
    assert rules == {rule.id for rule in policy.classification.rules}
    assert [t.name for t in run.coverage.targets if t.kind == "default"] == ["routine_ticket"]
    assert criteria == {(gate.id, name) for gate in policy.gates.gates for name in
                        [e.field for e in gate.require] + [c.name for c in gate.conditions] + [a.name for a in gate.approvals]}
    # every gate criterion is seen holding an item back by some case, not only met
    assert all("not_met" in t.statuses or "unknown" in t.statuses for t in run.coverage.targets if t.kind != "rule"
               and t.kind != "default")


# -- classification cases -----------------------------------------------------------------------------


def test_outcome_and_rule_are_compared_and_a_rule_not_written_is_not_checked(write) -> None:
    run = run_cases(write, """
    - {name: right, item: {recurrence_90d: 4}, expect: {outcome: process_improvement, rule: recurring}}
    - {name: wrong outcome, item: {recurrence_90d: 1}, expect: {outcome: process_improvement}}
    - {name: wrong rule, item: {recurrence_90d: 4, estimated_cost: 5000}, expect: {rule: recurring}}
    - {name: outcome only, item: {estimated_cost: 5000}, expect: initiative}
    - {name: the default, item: {}, expect: {outcome: routine_ticket, rule: null}}
    - {name: not the default, item: {recurrence_90d: 4}, expect: {rule: null}}
    """)
    assert statuses(run) == {"right": "passed", "wrong outcome": "failed", "wrong rule": "passed",
                             "outcome only": "passed", "the default": "passed", "not the default": "failed"}
    wrong = run.results[1]
    assert wrong.message == "expected outcome process_improvement; got outcome routine_ticket, rule (default)"
    assert wrong.explanation().startswith("The item: routine_ticket")
    assert (run.passed, run.failed, run.ok) == (4, 2, False)


def test_cases_that_cannot_pass_run_and_fail(write) -> None:
    run = run_cases(write, """
    - {name: other outcome, item: {recurrence_90d: 4}, expect: {outcome: initiative, rule: recurring}}
    - {name: pass with unmet, item: {stage: definition}, gate: true, expect: {result: pass, unmet: [sponsor]}}
    """)
    assert statuses(run) == {"other outcome": "failed", "pass with unmet": "failed"}


def test_a_rule_that_decides_instead_of_the_expected_one_fails(write) -> None:
    run = run_cases(write, """
    - {name: a, item: {recurrence_90d: 4, estimated_cost: 5000}, expect: {rule: costly}}
    """)
    assert run.results[0].message == "expected rule costly; got outcome process_improvement, rule recurring"


def test_error_expectations(write) -> None:
    run = run_cases(write, """
    - {name: text, item: {recurrence_90d: -1}, expect: {error: MUST BE AT LEAST 0}}
    - {name: any, item: {recurrence_90d: x}, expect: {error: true}}
    - {name: other text, item: {recurrence_90d: -1}, expect: {error: whole number}}
    - {name: decided, item: {}, expect: {error: true}}
    - {name: unexpected, item: {recurrence_90d: -1}, expect: routine_ticket}
    - {name: must be decided, item: {}, expect: {error: false}}
    """)
    assert statuses(run) == {"text": "passed", "any": "passed", "other text": "failed", "decided": "failed",
                             "unexpected": "failed", "must be decided": "passed"}
    assert run.results[2].message == ("expected an error containing 'whole number'; "
                                      "got error: 'recurrence_90d' must be at least 0, not -1")
    assert run.results[3].message == "expected an error; got outcome routine_ticket, rule (default)"
    assert run.results[4].explanation() is None


def test_collect_outcomes_and_rules_are_compared_as_sets(write) -> None:
    run = run_cases(write, """
    - {name: both, item: {recurrence_90d: 4, estimated_cost: 5000}, expect: {outcome: [initiative, process_improvement]}}
    - {name: rules, item: {recurrence_90d: 4, estimated_cost: 5000}, expect: {rule: [costly, recurring]}}
    - {name: one missing, item: {recurrence_90d: 4, estimated_cost: 5000}, expect: {outcome: initiative}}
    - {name: default, item: {}, expect: {outcome: routine_ticket, rule: null}}
    """, hit="collect")
    assert statuses(run) == {"both": "passed", "rules": "passed", "one missing": "failed", "default": "passed"}
    assert run.results[2].message == ("expected outcome [initiative]; got outcome [process_improvement, initiative], "
                                      "rule [recurring, costly]")


# -- gate cases --------------------------------------------------------------------------------------------


def test_gate_results_and_unmet_criteria_as_sets(write) -> None:
    run = run_cases(write, """
    - {name: pass, item: {stage: definition, problem_statement: x, sponsor: y}, gate: true, expect: pass}
    - {name: both missing, item: {stage: definition}, gate: true, expect: {result: fail, unmet: [sponsor, problem_statement]}}
    - {name: one named, item: {stage: definition}, gate: true, expect: {unmet: [sponsor]}}
    - {name: unknown holds back, item: {stage: analysis, cost: 5}, gate: true, expect: {result: fail, unmet: [within-budget]}}
    - {name: result only, item: {stage: analysis, cost: 5, budget: 1}, gate: true, expect: {result: fail}}
    - {name: wrong result, item: {stage: analysis, cost: 5, budget: 10}, gate: true, expect: {result: fail}}
    """)
    assert statuses(run) == {"pass": "passed", "both missing": "passed", "one named": "failed",
                             "unknown holds back": "passed", "result only": "passed", "wrong result": "failed"}
    assert run.results[2].message == "expected unmet [sponsor]; got result fail, unmet [problem_statement, sponsor]"
    assert run.results[5].message == "expected result fail; got result pass"
    assert run.results[5].explanation().startswith("The item: ready to move from 'analysis' to 'approval'")


def test_gate_to_a_stage_a_refused_skip_and_an_item_that_cannot_move(write) -> None:
    run = run_cases(write, """
    - {name: skip, item: {stage: definition}, gate: {to: charter}, expect: {result: fail, unmet: [skip]}}
    - {name: named stage, item: {stage: approval, approvals: [{by: ana, vote: approve}]}, gate: charter, expect: fail}
    - {name: last stage, item: {stage: charter}, gate: true, expect: {error: the last stage}}
    - {name: no stage, item: {}, gate: true, expect: fail}
    """)
    assert statuses(run) == {"skip": "passed", "named stage": "passed", "last stage": "passed", "no stage": "failed"}
    assert run.results[3].message == "expected result fail; got error: 'stage' is required but missing"


# -- coverage ------------------------------------------------------------------------------------------


def test_coverage_counts_deciding_rules_defaults_and_evaluated_criteria(write) -> None:
    run = run_cases(write, """
    - {name: recurring, item: {recurrence_90d: 4}, expect: process_improvement}
    - {name: recurring again but failing, item: {recurrence_90d: 5}, expect: initiative}
    - {name: rejected, item: {estimated_cost: -1}, expect: {error: true}}
    - {name: analysis, item: {stage: definition}, gate: true, expect: fail}
    """)
    targets = {(t.kind, t.name): t for t in run.coverage.targets}
    assert list(targets) == [("evidence", "problem_statement"), ("evidence", "sponsor"), ("condition", "within-budget"),
                             ("approval", "board"), ("default", "routine_ticket"), ("rule", "recurring"),
                             ("rule", "costly")]  # in source order: gates.yaml, then intake.yaml
    assert targets["rule", "recurring"].cases == 2  # a failing case exercises its rule as well
    assert not targets["rule", "costly"].covered and not targets["default", "routine_ticket"].covered
    assert targets["evidence", "sponsor"].statuses == ("not_met",)
    assert (run.coverage.covered, run.coverage.total) == (3, 7)
    assert [t.name for t in run.coverage.missed] == ["within-budget", "board", "routine_ticket", "costly"]
    assert run.coverage.percent == pytest.approx(300 / 7)


def test_a_gate_case_does_not_cover_the_rule_that_classified_its_item(write) -> None:
    run = run_cases(write, """
    - {name: classified on the way, item: {stage: definition, recurrence_90d: 4}, gate: true, expect: fail}
    """)
    assert not next(t for t in run.coverage.targets if t.name == "recurring").covered


def test_only_the_policies_a_file_tests_count(write) -> None:
    run = run_cases(write, "- {name: a, item: {}, expect: routine_ticket}", policy="../intake.yaml")
    assert {t.policy for t in run.coverage.targets} == {"test-policy"}
    assert (run.coverage.covered, run.coverage.total) == (1, 3)


def test_the_same_policy_tested_by_two_files_is_counted_once(write) -> None:
    write("set/tests/more.yaml", cases_file("- {name: b, item: {estimated_cost: 5000}, expect: initiative}",
                                            policy="../intake.yaml"))
    run = run_cases(write, "- {name: a, item: {recurrence_90d: 4}, expect: process_improvement}", policy="../intake.yaml")
    assert len(run.files) == 1
    both = run_tests(str(write("set/tests/.keep", "").parent))
    assert [f.name for f in both.files] == ["agreed", "agreed"] and len(both.results) == 2
    assert (both.coverage.covered, both.coverage.total) == (2, 3)


# -- loading -----------------------------------------------------------------------------------------------


def test_invalid_test_files_raise_policy_error_and_nothing_runs(write) -> None:
    with pytest.raises(PolicyError) as raised:
        run_cases(write, "- {name: a, item: {}, expect: initiatve}")
    assert [d.code for d in raised.value.diagnostics] == ["unknown-outcome"]


def test_paths_without_test_files_are_a_usage_error(write) -> None:
    folder = write("set/intake.yaml", policy_text(RULES)).parent
    with pytest.raises(UsageError, match="no test files"):
        run_tests(str(folder))
    with pytest.raises(UsageError, match="no such file or folder"):
        run_tests(str(folder / "missing"))


def test_a_broken_policy_among_the_paths_fails_the_run_even_when_no_test_names_it(write) -> None:
    write("set/intake.yaml", policy_text(RULES))
    write("set/tests/cases.yaml", cases_file("- {name: a, item: {}, expect: routine_ticket}", policy="../intake.yaml"))
    draft = write("set/draft.yaml", policy_text(RULES.replace("outcome: initiative", "outcome: initiatve")).replace(
        "test-policy", "draft"))
    write("set/items.yaml", "- {id: A}\n- {id: B}\n")  # YAML that is no policy is passed over
    with pytest.raises(PolicyError) as raised:
        run_tests(str(write("set/.keep", "").parent))
    assert [(Path(d.span.file).name, d.code) for d in raised.value.diagnostics] == [("draft.yaml", "unknown-outcome")]
    with pytest.raises(PolicyError):
        run_tests(str(draft))  # no test, but a problem: not a usage error


def test_a_test_file_that_does_not_parse_is_reported_not_skipped(write) -> None:
    write("set/intake.yaml", policy_text(RULES))
    broken = write("set/tests/broken.yaml", "rulebook: 1\nkind: tests\ncases: [\n")
    with pytest.raises(PolicyError) as raised:
        run_tests(str(broken.parent))
    assert [d.code for d in raised.value.diagnostics] == ["yaml-syntax"]


HELD_OUT = """\
# agreed cases, written the way the policy's issue describes them
rulebook: 1
kind: tests
name: intake and gates, agreed with the board
policy: ../policies
cases:
  - id: expensive idea
    item: {type: idea, estimated_cost: 400000}
    expected:
      outcome: portfolio_review
      rule: major-investment
  - id: quiet incident
    item: {type: incident}
    expected: {outcome: routine_ticket}
  - id: small idea
    item: {type: idea}
    expected: {outcome: routine_ticket, rule: null}
  - id: no type
    item: {estimated_cost: 1}
    expected: {error: "'type' is required"}
  - id: ready for analysis
    item: {stage: definition, outcome: initiative, problem_statement: Slow onboarding, sponsor: coo}
    gate: {to: analysis}
    expected: {result: pass}
  - id: board split
    item:
      stage: approval
      outcome: initiative
      resource_plan: One squad
      approvals:
        - {by: cio, vote: approve}
        - {by: coo, vote: "no"}
        - {by: finance_controller, vote: approve}
    gate: {to: charter}
    expected:
      result: fail
      unmet: [investment_board]
"""


def test_a_test_file_written_like_the_issue_describes_runs(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(POLICIES, tmp_path / "policies", ignore=shutil.ignore_patterns("tests"))
    (tmp_path / "agreed").mkdir()
    (tmp_path / "agreed" / "cases.yaml").write_text(textwrap.dedent(HELD_OUT))
    run = run_tests(str(tmp_path / "agreed"))
    assert [(r.name, r.status) for r in run.results] == [
        ("expensive idea", "passed"), ("quiet incident", "passed"), ("small idea", "passed"), ("no type", "passed"),
        ("ready for analysis", "passed"), ("board split", "passed")]


# -- robustness ------------------------------------------------------------------------------------

SMALL_CASES = """
- {name: a, item: {recurrence_90d: 4}, expect: {outcome: process_improvement, rule: recurring}}
- {name: b, item: {stage: definition}, gate: {to: analysis}, expect: {result: fail, unmet: [sponsor]}}
- {name: c, item: {recurrence_90d: -1}, expect: {error: at least}}
"""
edit_paths = st.lists(st.sampled_from(["cases", 0, 1, 2, "item", "expect", "gate", "to", "outcome", "rule", "result",
                                       "unmet", "error", "name", "policy", "policy_name"]), max_size=4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=edit_paths, value=json_values)
@example(path=["cases", 0, "expect", "rule"], value=5)
@example(path=["cases", 0, "expect", "rule"], value=[])
@example(path=["cases", 0, "expect", "outcome"], value=[])
@example(path=["policy"], value="")
def test_any_edit_of_a_test_file_gives_diagnostics_or_runs_never_a_crash(policy_set: Path, path: list[Any],
                                                                        value: Any) -> None:
    # an edit may also make it no test file at all, or name a policy that does not exist
    document = edited(yaml.safe_load(cases_file(SMALL_CASES)), path, copy.deepcopy(value))
    target = policy_set / "tests" / "cases.yaml"
    target.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        report = collect([str(target)])
    except UsageError:
        return  # the edit made it something other than a test file
    if not report.errors:
        run = run_files(report)
        assert run.passed + run.failed == sum(len(f.cases) for f in report.files)


# -- cases of a policy that counts days_since() -------------------------------------------------------------

AGED_RULES = """
- id: stale
  outcome: process_improvement
  when: days_since(opened) > 30
"""
AGED_CASES = """
- {name: a month and a day, item: {opened: '2026-01-31'}, expect: {rule: stale}}
- {name: a month, item: {opened: '2026-02-01'}, expect: {rule: null}}
"""


def test_cases_count_days_since_to_the_file_s_as_of_date(write) -> None:
    write("set/intake.yaml", policy_text(AGED_RULES, inputs="inputs:\n  opened: date\n"))
    write("set/gates.yaml", gates_text(GATES))
    path = write("set/tests/cases.yaml", cases_file(AGED_CASES, header="as_of: '2026-03-03'\n"))
    run = run_tests(str(path))
    assert statuses(run) == {"a month and a day": "passed", "a month": "passed"}
    later = write("set/tests/cases.yaml", cases_file(AGED_CASES, header="as_of: 2026-03-04\n"))
    assert statuses(run_tests(str(later))) == {"a month and a day": "passed", "a month": "failed"}
