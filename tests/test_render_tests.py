"""Render stage, policy tests: the runner's text report, its JSON form and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from engine.render_tests import json_report, junit_xml, percent, text_report

from .conftest import gates_text
from .test_testrun import run_cases
from .test_validate import line_of
from .test_validate_tests import GATES

CASES = """
- {name: recurring, item: {recurrence_90d: 4}, expect: {outcome: process_improvement, rule: recurring}}
- {name: wrongly expected, item: {id: X-9, recurrence_90d: 1}, expect: {outcome: process_improvement, rule: recurring}}
- {name: held back, item: {stage: definition}, gate: true, expect: pass}
"""


@pytest.fixture
def run(write):
    return run_cases(write, CASES)


def test_text_report_reads_like_a_test_runner(run, write) -> None:
    text = text_report(run)
    lines = text.splitlines()
    cases = str(write("set/tests/cases.yaml", "").parent / "cases.yaml")
    assert lines[:4] == [
        f"{cases} (agreed): 3 cases",
        "  PASS  recurring",
        "  FAIL  wrongly expected: expected outcome process_improvement, rule recurring; "
        "got outcome routine_ticket, rule (default)",
        "  FAIL  held back: expected result pass; got result fail, unmet [problem_statement, sponsor]",
    ]
    failure = lines.index(f"FAIL {cases}:7: wrongly expected")
    assert lines[failure + 1:failure + 5] == [
        "  expected: outcome process_improvement, rule recurring",
        "  actual:   outcome routine_ticket, rule (default)",
        "  explanation:",
        "    Item 'X-9': routine_ticket",
    ]
    assert f"FAIL {cases}:8: held back" in lines
    assert "    What holds it back:" in lines  # the gate explanation, indented under its failure
    assert lines[-1] == "1 passed, 2 failed"
    assert not any(line != line.rstrip() for line in lines)


def test_text_report_lists_what_no_case_exercised_with_file_and_line(run, write) -> None:
    lines = text_report(run).splitlines()
    start = lines.index("Coverage: 4 of 7 rules, defaults and gate criteria exercised (57.1%); not exercised by any case:")
    gates = write("set/gates.yaml", "").parent / "gates.yaml"
    text = gates_text(GATES)
    table = lines[start + 2:start + 7]
    assert table[0].split() == ["policy", "kind", "name", "gate", "source"]
    assert table[2].split() == ["test-gates", "condition", "within-budget", "analysis->approval",
                                f"{gates}:{line_of(text, 'within-budget')}"]
    assert table[3].split() == ["test-gates", "approval", "board", "approval->charter", f"{gates}:{line_of(text, 'board, rule')}"]
    assert table[4].split()[:3] == ["test-policy", "rule", "costly"]


def test_quiet_leaves_out_the_cases_that_passed(run) -> None:
    lines = text_report(run, quiet=True).splitlines()
    assert not any("PASS" in line for line in lines)
    assert lines[0].startswith("FAIL  ") and lines[0].endswith("wrongly expected: expected outcome process_improvement, "
                                                                "rule recurring; got outcome routine_ticket, rule (default)")
    assert lines[-1] == "1 passed, 2 failed"


def test_min_coverage_says_so_when_it_is_not_reached(run) -> None:
    assert "FAIL: coverage 57.1% is below the required 60% (--min-coverage)" in text_report(run, min_coverage=60)
    assert "below the required" not in text_report(run, min_coverage=57)


@pytest.mark.parametrize("value, shown", [(100.0, "100%"), (99.99, "99.9%"), (57.142857, "57.1%"), (50.0, "50%"),
                                          (0.0, "0%")])
def test_percent_never_rounds_up_to_a_full_cover(value: float, shown: str) -> None:
    assert percent(value) == shown


def test_json_report(run) -> None:
    document = json.loads(json.dumps(json_report(run, min_coverage=90)))
    assert (document["passed"], document["failed"]) == (1, 2)
    (test_file,) = document["files"]
    assert [c["status"] for c in test_file["cases"]] == ["passed", "failed", "failed"]
    assert test_file["cases"][1]["expected"] == {"outcome": "process_improvement", "rule": "recurring"}
    assert test_file["cases"][1]["actual"] == {"outcome": "routine_ticket", "rule": None}
    assert test_file["cases"][2]["actual"] == {"result": "fail", "unmet": ["problem_statement", "sponsor"]}
    assert test_file["cases"][1]["explanation"].startswith("Item 'X-9': routine_ticket")
    assert "explanation" not in test_file["cases"][0]
    coverage = document["coverage"]
    assert (coverage["covered"], coverage["total"], coverage["percent"], coverage["ok"]) == (4, 7, 57.14, False)
    assert coverage["targets"][0] | {"source": None} == {
        "policy": "test-gates", "kind": "evidence", "name": "problem_statement", "gate": "definition->analysis",
        "source": None, "covered": True, "cases": 1, "statuses": ["not_met"]}


def test_junit_xml_has_a_suite_per_file_and_a_case_per_case(run, write) -> None:
    data = junit_xml(run)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(data)
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "2", "0")
    (suite,) = root.findall("testsuite")
    cases = str(write("set/tests/cases.yaml", "").parent / "cases.yaml")
    assert (suite.get("name"), suite.get("file"), suite.get("tests"), suite.get("failures")) == ("agreed", cases, "3", "2")
    testcases = suite.findall("testcase")
    assert [(c.get("name"), c.get("classname"), c.get("line")) for c in testcases] == [
        ("recurring", "agreed", "6"), ("wrongly expected", "agreed", "7"), ("held back", "agreed", "8")]
    assert testcases[0].find("failure") is None
    failure = testcases[1].find("failure")
    assert failure.get("message") == ("expected outcome process_improvement, rule recurring; "
                                      "got outcome routine_ticket, rule (default)")
    assert f"FAIL {cases}:7: wrongly expected" in failure.text and "Item 'X-9': routine_ticket" in failure.text
    assert junit_xml(run) == data  # no timings: the same run gives the same bytes


def test_junit_xml_stays_well_formed_whatever_the_item_holds(write) -> None:
    run = run_cases(write, '- {name: "odd \\x01 <name> & more", item: {id: "\\x00"}, expect: initiative}')
    root = ET.fromstring(junit_xml(run))
    case = root.find("testsuite/testcase")
    assert case.get("name") == "odd \\x01 <name> & more"
    assert "Item '\\x00'" in case.find("failure").text
