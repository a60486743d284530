"""Validate stage, test files: every mistake in a `kind: tests` document, each with its code,
line and column, checked against the policy set the file tests."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import engine
from engine.validate import check_paths

from .conftest import POLICIES, gates_text, policy_text, run
from .test_schema import agrees
from .test_validate import column_of, line_of

RULES = """
- id: recurring
  outcome: process_improvement
  when: recurrence_90d >= 3
  because: It recurs.
- id: costly
  outcome: initiative
  when: estimated_cost >= 1000
"""

GATES = """
- to: analysis
  require: [problem_statement, sponsor]
- to: approval
  when: [{id: within-budget, when: cost <= budget}]
- to: charter
  approvals: {from: board, rule: majority}
"""


def cases_file(cases: str, *, policy: str = "..", header: str = "") -> str:
    """A test file testing `policy` (relative to the file) with `cases` (YAML for the list)."""
    return ("rulebook: 1\nkind: tests\nname: agreed\n" + header + f"policy: {policy}\ncases:\n"
            + textwrap.indent(textwrap.dedent(cases).strip("\n"), "  ") + "\n")


@pytest.fixture
def policy_set(write) -> Path:
    """A folder with a classification and a gates policy; test files go in its `tests/`."""
    write("set/intake.yaml", policy_text(RULES))
    write("set/gates.yaml", gates_text(GATES))
    return write("set/tests/.keep", "").parent.parent


def checked(paths: list[str]) -> Any:
    """The report on the test files under `paths` (and on the policy files beside them)."""
    return check_paths(paths, tests=True)


def problems(write, cases: str, **options: Any) -> list[tuple[str, int, int, str | None]]:
    """(code, line, column, hint) of every problem in a test file of `cases` beside the policy set
    (the `policy_set` fixture's, unless the test wrote its own)."""
    for name, text in (("intake.yaml", policy_text(RULES)), ("gates.yaml", gates_text(GATES))):
        if not (write("set/.keep", "").parent / name).exists():
            write(f"set/{name}", text)
    path = write("set/tests/cases.yaml", cases_file(cases, **options))
    report = checked([str(path)])
    return [(d.code, d.span.line, d.span.column, d.hint) for d in report.diagnostics]


def text_of(cases: str, **options: Any) -> str:
    return cases_file(cases, **options)


def test_the_shipped_tests_are_valid() -> None:
    report = check_paths([str(POLICIES)], tests=True)
    assert report.diagnostics == []
    assert sorted(t.name for t in report.test_files) == ["demand-intake cases", "initiative-gates cases"]


def test_a_valid_test_file_has_no_problems_and_reads_every_spelling(write) -> None:
    cases = """
    - name: by outcome and rule
      item: {id: A, recurrence_90d: 4}
      expect: {outcome: process_improvement, rule: recurring}
    - id: 7
      item: {id: B}
      expected: routine_ticket
    - name: the default
      item: {}
      expect: {rule: null}
    - name: a gate, by stage name
      item: {stage: definition}
      gate: analysis
      expect: fail
    - name: a gate without the key
      item: {stage: definition, problem_statement: x, sponsor: y}
      expect: {result: pass}
    - name: refused
      item: {recurrence_90d: -1}
      expect: {error: at least 0}
    """
    assert problems(write, cases) == []
    report = checked([str(write("set/tests/cases.yaml", cases_file(cases)))])
    (test_file,) = report.test_files
    assert [c.name for c in test_file.cases] == ["by outcome and rule", "7", "the default", "a gate, by stage name",
                                                 "a gate without the key", "refused"]
    assert [(c.gate, c.to) for c in test_file.cases][3:5] == [(True, "analysis"), (True, None)]
    assert test_file.cases[1].expect.outcome == "routine_ticket" and not test_file.cases[1].expect.checks_rule
    assert test_file.cases[2].expect.checks_rule and test_file.cases[2].expect.rule is None
    assert test_file.policy_paths == (str(write("set/.keep", "").parent),)


# -- what the cases expect -----------------------------------------------------------------------------


@pytest.mark.parametrize("expect, code, wrong, hint", [
    ("{outcome: initiatve}", "unknown-outcome", "initiatve", "did you mean 'initiative'?"),
    ("{outcome: process_improvement, rule: recuring}", "unknown-rule", "recuring", "did you mean 'recurring'?"),
    ("{outcome: [routine_tickt]}", "unknown-outcome", "routine_tickt", "did you mean 'routine_ticket'?"),
])
def test_unknown_outcome_or_rule_with_did_you_mean(write, expect: str, code: str, wrong: str, hint: str) -> None:
    cases = f"- {{name: a, item: {{}}, expect: {expect}}}"
    text = text_of(cases)
    assert problems(write, cases) == [(code, line_of(text, wrong), column_of(text, wrong), hint)]


def cannot_pass(write, cases: str, **options: Any) -> list[tuple[str, int, str, str | None]]:
    """The warnings about cases that can never pass (they run all the same, and fail)."""
    found = problems(write, cases, **options)
    report = checked([str(write("set/.keep", "").parent / "tests" / "cases.yaml")])
    assert report.errors == [] and all(d.severity == "warning" for d in report.diagnostics)
    assert [t.name for t in report.test_files] == ["agreed"]
    return [(d.code, d.span.line, d.message, d.hint) for d in report.diagnostics if d.code == "cannot-pass"] or found


def test_a_rule_that_gives_another_outcome_can_never_pass(write) -> None:
    cases = """
    - name: a
      item: {}
      expect: {outcome: initiative, rule: recurring}
    - name: b
      item: {}
      expect: {outcome: initiative, rule: null}
    """
    assert cannot_pass(write, cases) == [
        ("cannot-pass", 8, "this case cannot pass: rule 'recurring' gives 'process_improvement', never 'initiative'",
         "expect outcome 'process_improvement', or another rule"),
        ("cannot-pass", 11, "this case cannot pass: the default gives 'routine_ticket', never 'initiative'",
         "expect outcome 'routine_ticket', or another rule"),
    ]


def test_the_default_expected_of_a_policy_without_one(write) -> None:
    write("set/intake.yaml", policy_text(RULES, default=None))
    ((code, line, message, _),) = cannot_pass(write, "- {name: a, item: {}, expect: {rule: null}}", policy="../intake.yaml")
    assert (code, line, message) == ("cannot-pass", 6, "this case cannot pass: 'test-policy' has no default, so no item "
                                                       "is decided by it")


def test_a_list_of_outcomes_needs_hit_collect(write) -> None:
    ((code, _, _, hint),) = cannot_pass(write, "- {name: a, item: {}, expect: {outcome: [initiative, routine_ticket]}}",
                                        policy="../intake.yaml")
    assert code == "cannot-pass" and "hit: collect" in hint
    write("set/collect.yaml", policy_text(RULES, hit="collect").replace("test-policy", "collecting"))
    path = write("set/tests/cases.yaml", cases_file(
        "- {name: a, item: {}, expect: {outcome: [initiative, routine_ticket], rule: [costly, null]}}",
        policy="../collect.yaml"))
    report = checked([str(path)])
    assert report.diagnostics == [] and report.test_files[0].cases[0].expect.outcome == ("initiative", "routine_ticket")
    assert report.test_files[0].cases[0].expect.rule == ("costly", None)


def test_duplicate_case_names(write) -> None:
    cases = """
    - {name: same, item: {}, expect: routine_ticket}
    - {id: same, item: {}, expect: routine_ticket}
    """
    ((code, line, column, hint),) = problems(write, cases)
    assert (code, line, column) == ("duplicate-case", 7, column_of(text_of(cases), "same", "id: same"))
    assert hint.startswith("the first is at line 6")


def test_a_case_without_a_name_or_an_expectation(write) -> None:
    cases = """
    - item: {}
      expect: routine_ticket
    - name: b
      item: {}
    """
    assert [(code, line, column) for code, line, column, _ in problems(write, cases)] == [
        ("missing-key", 6, 5), ("missing-key", 8, 5)]


def test_two_spellings_of_one_key(write) -> None:
    cases = """
    - name: a
      id: b
      item: {}
      expect: routine_ticket
      expected: routine_ticket
    """
    assert [(code, line, column, hint) for code, line, column, hint in problems(write, cases)] == [
        ("duplicate-key", 7, 5, "write only 'name'"), ("duplicate-key", 10, 5, "write only 'expect'")]


def test_unknown_stage_and_criterion_with_did_you_mean(write) -> None:
    cases = """
    - name: a
      item: {stage: definition}
      gate: {to: chartr}
      expect: {result: fail, unmet: [sponser, skip]}
    """
    text = text_of(cases)
    assert problems(write, cases) == [
        ("unknown-stage", line_of(text, "chartr"), column_of(text, "chartr"), "did you mean 'charter'?"),
        ("unknown-criterion", line_of(text, "sponser"), column_of(text, "sponser"), "did you mean 'sponsor'?"),
    ]


def test_a_result_that_cannot_have_unmet_criteria(write) -> None:
    cases = """
    - {name: a, item: {stage: definition}, gate: true, expect: {result: pass, unmet: [sponsor]}}
    - {name: b, item: {stage: definition}, gate: true, expect: {result: not_applicable, unmet: sponsor}}
    """
    assert [(code, line) for code, line, _, _ in cannot_pass(write, cases)] == [("cannot-pass", 6), ("cannot-pass", 7)]


def test_an_expected_error_stands_alone(write) -> None:
    cases = """
    - {name: a, item: {}, expect: {error: missing, outcome: initiative}}
    """
    ((code, line, column, _),) = problems(write, cases)
    assert (code, line, column) == ("invalid-expectation", 6, column_of(text_of(cases), "error"))


def test_classification_keys_in_a_gate_case_and_the_other_way_round(write) -> None:
    cases = """
    - {name: a, item: {}, gate: true, expect: {outcome: initiative}}
    - {name: b, item: {}, expect: {outcome: initiative, result: fail}}
    """
    found = problems(write, cases)
    text = text_of(cases)
    assert [(code, line, column) for code, line, column, _ in found] == [
        ("invalid-expectation", 6, column_of(text, "outcome")), ("invalid-expectation", 7, column_of(text, "outcome", "name: b"))]


def test_an_unknown_result_is_a_structural_problem(write) -> None:
    cases = """
    - {name: a, item: {}, expect: {result: passs}}
    - {name: b, item: {}, gate: true, expect: passs}
    """
    found = problems(write, cases)
    assert [(code, line, hint) for code, line, _, hint in found] == [
        ("invalid-value", 6, "did you mean 'pass'?"), ("invalid-value", 7, "did you mean 'pass'?")]


def test_unknown_keys_are_structural_problems_with_did_you_mean(write) -> None:
    cases = """
    - {name: a, item: {}, expect: {outcome: initiative, rul: costly}}
    - {name: b, itme: {}, expect: initiative}
    """
    found = problems(write, cases)
    assert [(code, line, hint) for code, line, _, hint in found] == [
        ("unknown-key", 6, "did you mean 'rule'?"), ("missing-key", 7, None),
        ("unknown-key", 7, "did you mean 'item'?")]


# -- the tested policy set ---------------------------------------------------------------------------


def test_a_policy_path_that_does_not_exist(write) -> None:
    found = problems(write, "- {name: a, item: {}, expect: initiative}", policy="../nowhere.yaml")
    assert found == [("policy-missing", 4, 9, f"'policy' is relative to the test file's folder "
                      f"'{write('set/tests/x', '').parent}', so it names '{write('set/x', '').parent}/nowhere.yaml'")]


def test_a_policy_path_relative_to_the_working_folder_works_with_a_warning(write, monkeypatch) -> None:
    folder = write("set/intake.yaml", policy_text(RULES)).parent.parent
    write("cases/cases.yaml", cases_file("- {name: a, item: {}, expect: routine_ticket}", policy="set/intake.yaml"))
    monkeypatch.chdir(folder)
    report = checked(["cases"])
    assert [(d.code, d.severity, d.hint) for d in report.diagnostics] == [
        ("policy-path", "warning", "write it relative to the test file's folder: '../set/intake.yaml'")]
    assert report.test_files[0].policy_paths == ("set/intake.yaml",)


def test_an_invalid_tested_policy_is_reported_where_its_problems_are(write) -> None:
    write("set/intake.yaml", policy_text(RULES.replace("recurrence_90d >= 3", "recurence_90d >= 3")))
    path = write("set/tests/cases.yaml", cases_file("- {name: a, item: {}, expect: initiative}", policy="../intake.yaml"))
    report = checked([str(path)])
    assert [(Path(d.span.file).name, d.code) for d in report.errors] == [
        ("intake.yaml", "unknown-name"), ("cases.yaml", "invalid-policy")]


def test_a_tested_policy_in_the_folder_checked_is_reported_once_however_the_folder_is_named(write, monkeypatch) -> None:
    folder = write("set/intake.yaml", policy_text(RULES.replace("recurrence_90d >= 3", "recurence_90d >= 3"))).parent
    write("set/tests/cases.yaml", cases_file("- {name: a, item: {}, expect: initiative}", policy="../intake.yaml"))
    monkeypatch.chdir(folder)
    for named in [".", "./", "../set"]:
        report = check_paths([named], tests=True)
        assert [(d.span.file, d.code) for d in report.errors] == [
            ("intake.yaml" if named != "../set" else "../set/intake.yaml", "unknown-name"),
            ("tests/cases.yaml" if named != "../set" else "../set/tests/cases.yaml", "invalid-policy")], named


def test_gate_cases_over_a_set_of_several_classification_policies_say_how_to_choose_one(write) -> None:
    write("set/intake.yaml", policy_text(RULES))
    write("set/other.yaml", policy_text(RULES).replace("test-policy", "other-policy"))
    write("set/gates.yaml", gates_text(GATES, extra="applies_to: outcome == 'initiative'\n"))
    path = write("set/tests/cases.yaml", cases_file("- {name: a, item: {stage: definition}, gate: true, "
                                                    "expect: {result: fail}}", header="policy_name: test-gates\n"))
    (problem,) = checked([str(path)]).errors
    assert (problem.code, problem.message, problem.hint) == (
        "policy-kind", ("the gate cases cannot be checked: the policy set holds several classification policies "
                        "(test-policy, other-policy)"), "choose the classification policy with 'policy_name'")


def test_policy_name_chooses_and_must_exist(write) -> None:
    write("set/other.yaml", policy_text(RULES).replace("test-policy", "other-policy"))
    found = problems(write, "- {name: a, item: {}, expect: initiative}", header="policy_name: test-polcy\n")
    assert found == [("unknown-policy", 4, 14, "did you mean 'test-policy'?")]
    several = problems(write, "- {name: a, item: {}, expect: initiative}")
    assert [(code, hint) for code, _, _, hint in several] == [("policy-kind", "choose one with 'policy_name'")]
    assert problems(write, "- {name: a, item: {}, expect: initiative}", header="policy_name: other-policy\n") == []


def test_a_case_of_a_kind_the_set_does_not_hold(write) -> None:
    write("set/intake.yaml", policy_text(RULES))
    path = write("set/tests/cases.yaml", cases_file("- {name: a, item: {stage: definition}, gate: true, expect: pass}",
                                                    policy="../intake.yaml"))
    (problem,) = checked([str(path)]).diagnostics
    at = (problem.code, problem.span.line, problem.span.column)
    assert at == ("policy-kind", 6, column_of(path.read_text(), "true"))  # at the case's `gate`
    assert problem.message == ("this case checks items at their stage gates, "
                               "but the tested policy set holds no gates policy")


def test_a_folder_without_any_policy(write) -> None:
    write("set/readme.yaml", "title: not a policy\n")
    path = write("set/tests/cases.yaml", cases_file("- {name: a, item: {}, expect: initiative}"))
    codes = [d.code for d in checked([str(path)]).errors]
    assert codes == ["no-policy"]


# -- warnings --------------------------------------------------------------------------------------


def test_a_misspelt_item_field_is_a_warning(write) -> None:
    cases = """
    - name: a
      item: {recurence_90d: 4, title: Not read, stage: definition, problem_statement: x}
      expect: process_improvement
    """
    text = text_of(cases)
    assert problems(write, cases) == [
        ("unread-field", line_of(text, "recurence"), column_of(text, "recurence"), "did you mean 'recurrence_90d'?")]


def test_an_unquoted_yes_read_as_true_is_a_warning(write) -> None:
    write("set/intake.yaml", policy_text(RULES, inputs="inputs:\n  urgent: {type: boolean, default: false}\n"
                                              "  recurrence_90d: {type: integer}\n  estimated_cost: {type: number}\n"))
    cases = """
    - name: a
      item: {stage: approval, urgent: yes, approvals: [{by: ana, vote: yes}]}
      gate: true
      expect: fail
    """
    text = text_of(cases)
    found = problems(write, cases)
    assert found == [("yaml-boolean", line_of(text, "vote"), text.splitlines()[6].rindex("yes") + 1,
                      "write 'yes' in quotes for the text")]


def test_an_unquoted_number_yaml_reads_as_another_is_a_warning(write) -> None:
    cases = """
    - name: a
      item: {recurrence_90d: 0123, estimated_cost: 1:30, code: 0x1F, plain: 0, also: 1_000, ratio: 0.5, note: '0123'}
      expect: routine_ticket
    """
    text = text_of(cases)
    found = problems(write, cases)
    line = line_of(text, "0123")
    assert found == [("yaml-number", line, text.splitlines()[line - 1].index(raw) + 1, f"write '{raw}' in quotes for the text")
                     for raw in ("0123", "1:30", "0x1F")]

# -- where test files are read -------------------------------------------------------------------------


def test_deciding_items_ignores_test_files_even_broken_ones(policy_set: Path, write) -> None:
    write("set/tests/broken.yaml", "rulebook: 1\nkind: tests\npolicy: ..\ncases: [{name: a}]\n")
    policy = engine.load(str(policy_set))
    assert policy.classify({"recurrence_90d": 5}).rule == "recurring"
    result = run("classify", "-", "-p", str(policy_set), "-q", input='{"recurrence_90d": 5}\n')
    assert result.exit_code == 0 and '"rule":"recurring"' in result.stdout
    assert check_paths([str(policy_set)]).diagnostics == []


def test_validate_checks_the_test_files_in_a_folder(policy_set: Path, write) -> None:
    write("set/tests/cases.yaml", cases_file("- {name: a, item: {}, expect: routine_ticket}"))
    result = run("validate", str(policy_set))
    assert result.exit_code == 0
    assert result.stdout.strip() == "ok: 2 policies (test-gates 1, test-policy 1), 2 rules, 3 gates; 1 test file (1 case)"
    document = json.loads(run("validate", str(policy_set), "--format", "json").stdout)
    assert document["tests"] == [{"name": "agreed", "file": str(policy_set / "tests" / "cases.yaml"),
                                  "policy": [str(policy_set)], "cases": 1}]
    write("set/tests/cases.yaml", cases_file("- {name: a, item: {}, expect: routine_tiket}"))
    result = run("validate", str(policy_set))
    assert result.exit_code == 1
    assert "cases.yaml:6:33: error: 'routine_tiket' is not an outcome of 'test-policy'" in result.stdout
    assert "hint: did you mean 'routine_ticket'?" in result.stdout


# -- the published schema ------------------------------------------------------------------------------


def shipped_tests() -> dict[str, Any]:
    return yaml.safe_load((POLICIES / "tests" / "initiative-gates.yaml").read_text())


def test_the_shipped_test_file_is_valid_for_both_schema_checkers() -> None:
    agrees(shipped_tests())


MUTATIONS = [
    lambda d: d.pop("cases"),
    lambda d: d.pop("policy"),
    lambda d: d.update(policy=["..", 3]),
    lambda d: d.update(cases=[]),
    lambda d: d.update(polcy=".."),
    lambda d: d["cases"][0].pop("item"),
    lambda d: d["cases"][0].update(item="x"),
    lambda d: d["cases"][0].update(gate={"too": "charter"}),
    lambda d: d["cases"][0].update(gate=3),
    lambda d: d["cases"][0].update(expect={}),
    lambda d: d["cases"][0].update(expect={"result": "passed"}),
    lambda d: d["cases"][0].update(expect={"unmet": [1]}),
    lambda d: d["cases"][0].update(expect={"error": ""}),
    lambda d: d["cases"][0].update(expect={"rule": [None, "x"]}),
    lambda d: d["cases"][0].update(name=True),
    lambda d: d.update(kind="test"),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_checker_agrees_with_jsonschema_on_test_file_mutations(mutate: Any) -> None:
    document = copy.deepcopy(shipped_tests())
    mutate(document)
    agrees(document)



def test_cases_of_a_policy_that_calls_days_since_must_name_their_as_of_date(write) -> None:
    write("set/intake.yaml", policy_text("- {id: r, outcome: initiative, when: days_since(opened) > 30}",
                                         inputs="inputs:\n  opened: date\n"))
    cases = "- {name: old, item: {opened: '2026-01-01'}, expect: initiative}"
    ((code, line, column, hint),) = problems(write, cases)
    assert (code, line, column) == ("as-of-missing", 4, 9) and "as_of: 2026-12-02" in hint
    assert problems(write, cases, header="as_of: 2026-03-01\n") == []
    assert problems(write, cases, header="as_of: 2026-02-30\n") == [
        ("type-mismatch", 4, 8, "write it as '2026-12-02', or '2026-12-02T09:30:00Z' for a moment")]
    assert [code for code, *_ in problems(write, cases, header="as_of: 20260301\n")] == ["wrong-type"]
