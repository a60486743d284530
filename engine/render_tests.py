"""Render stage, policy tests: a test run -> the runner's text report, JSON, or JUnit XML.

The text report reads like a test runner's: a line per case (`PASS` / `FAIL`, a failing case
with what it expected and what it got), then each failure in full with its FILE:LINE and the
explanation of the actual decision, then the coverage (a table of what no case exercised,
with FILE:LINE), and last the summary line `N passed, N failed`. The JSON form is the same
as data. The JUnit XML (a test suite per test file, a test case per case, a failure element
carrying the message) is what CI systems read; it holds no timings, so one run writes the
same bytes as the next.
"""

from __future__ import annotations

import math
import re
import textwrap
from typing import Any

from .errors import counted
from .testrun import CaseResult, Coverage, TestRun

INDENT = "    "


def percent(value: float) -> str:
    """A share for people: one decimal at most, rounded down so that only 100 reads 100%."""
    shown = math.floor(value * 10) / 10
    return (f"{shown:.1f}".rstrip("0").rstrip(".")) + "%"


def summary(run: TestRun) -> str:
    """The last line of a run: `N passed, N failed`."""
    return f"{run.passed} passed, {run.failed} failed"


def text_report(run: TestRun, *, quiet: bool = False, min_coverage: float | None = None) -> str:
    """The whole report as text; `quiet` leaves out the cases that passed."""
    lines: list[str] = []
    for test_file in run.files:
        results = run.results_of(test_file)
        if not quiet:
            lines.append(f"{test_file.file} ({test_file.name}): {counted(len(results), 'case')}")
        for result in results:
            if result.passed:
                if not quiet:
                    lines.append(f"  PASS  {result.name}")
            elif not quiet:
                lines.append(f"  FAIL  {result.name}: {result.message}")
            else:
                lines.append(f"FAIL  {result.span.short}: {result.name}: {result.message}")
    if run.failures:
        lines += ["", "Failures:"]
        for result in run.failures:
            lines += ["", *failure_lines(result)]
    lines += ["", *coverage_lines(run.coverage, min_coverage), "", summary(run)]
    if quiet and lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def failure_lines(result: CaseResult) -> list[str]:
    """A failing case in full: where it is, expected and actual, and the explanation."""
    lines = [
        f"FAIL {result.span.short}: {result.name}",
        f"  expected: {result.expected.describe()}",
        f"  actual:   {result.actual.describe()}",
    ]
    explanation = result.explanation()
    if explanation:
        lines.append("  explanation:")
        lines.append(textwrap.indent(explanation.rstrip("\n"), INDENT))
    return lines


def coverage_lines(coverage: Coverage, min_coverage: float | None = None) -> list[str]:
    """The coverage line, the table of what no case exercised, and the verdict on --min-coverage."""
    head = (f"Coverage: {coverage.covered} of {coverage.total} rules, defaults and gate criteria exercised "
            f"({percent(coverage.percent)})")
    if not coverage.targets:
        head = "Coverage: the tested policies have no rules, defaults or gate criteria"
    lines = [head + ("; not exercised by any case:" if coverage.missed else "")]
    if coverage.missed:
        from tabulate import tabulate

        rows = [[t.policy, t.kind, t.name, t.gate or "", t.span.short] for t in coverage.missed]
        table = tabulate(rows, headers=["policy", "kind", "name", "gate", "source"], tablefmt="simple")
        lines += ["", table]
    if min_coverage is not None and coverage.percent < min_coverage:
        lines += ["", f"FAIL: coverage {percent(coverage.percent)} is below the required {percent(min_coverage)} "
                      "(--min-coverage)"]
    return lines


# -- JSON -----------------------------------------------------------------------------------------


def json_report(run: TestRun, min_coverage: float | None = None) -> dict[str, Any]:
    """The run as JSON-ready data: counts, every case, and coverage target by target."""
    coverage = run.coverage
    return {
        "passed": run.passed,
        "failed": run.failed,
        "files": [
            {
                "file": test_file.file,
                "name": test_file.name,
                "policy": list(test_file.policy_paths),
                "cases": [case_record(result) for result in run.results_of(test_file)],
            }
            for test_file in run.files
        ],
        "coverage": {
            "covered": coverage.covered,
            "total": coverage.total,
            "percent": round(coverage.percent, 2),
            "min_coverage": min_coverage,
            "ok": min_coverage is None or coverage.percent >= min_coverage,
            "targets": [target.as_record() for target in coverage.targets],
        },
    }


def case_record(result: CaseResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": result.name,
        "source": result.span.short,
        "kind": "gate" if result.case.gate else "classification",
        "status": result.status,
        "expected": result.expected.as_record(),
        "actual": result.actual.as_record(),
    }
    if not result.passed:
        out["message"] = result.message
        out["explanation"] = result.explanation()
    return out


# -- JUnit XML ------------------------------------------------------------------------------------

# characters XML 1.0 cannot carry, even escaped
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def junit_xml(run: TestRun) -> bytes:
    """The run as JUnit XML: a <testsuite> per test file, a <testcase> per case, and a
    <failure> (with the message, and the details and explanation as text) per failing case."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="rulebook test", tests=str(len(run.results)), failures=str(run.failed),
                      errors="0")
    for test_file in run.files:
        results = run.results_of(test_file)
        failures = sum(1 for result in results if not result.passed)
        suite = ET.SubElement(root, "testsuite", name=_xml_text(test_file.name), tests=str(len(results)),
                              failures=str(failures), errors="0", skipped="0", file=_xml_text(test_file.file))
        for result in results:
            case = ET.SubElement(suite, "testcase", name=_xml_text(result.name), classname=_xml_text(test_file.name),
                                 file=_xml_text(test_file.file), line=str(result.span.line))
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=_xml_text(result.message), type="PolicyTestFailure")
                failure.text = _xml_text("\n".join(failure_lines(result)) + "\n")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
