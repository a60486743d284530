"""Test stage: checked test files -> a test run: each case passed or failed, and coverage.

Each case goes through the same API as any caller: a classification case through
`Policy.classify` (with its trace, so a failure can be explained), a gate case through
`Policy.gate`; an item the policy cannot decide raises `ItemError`, which is the actual result
an `error` expectation is compared with. Coverage counts what the cases exercised in the
tested policies: a rule when a classification case was decided by it, the default when a
case fell to it, and a gate criterion when a gate case's result lists it with a status
(met, not_met or unknown), whether the case passed or failed. Rendering is in
`render_tests.py`.

    import engine
    run = engine.run_tests(["policies/tests"])
    print(run.passed, run.failed, run.coverage.percent)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .cases import Case, Expectation, TestFile, shown
from .errors import Diagnostic, ItemError, PolicyError, RulebookError, Span, UsageError, listed
from .evaluate import Decision
from .gates import GateResult
from .loader import Document, discover, read_file, shown_text
from .model import ClassificationPolicy, GatesPolicy
from .validate import _order as diagnostic_order
from .validate import check_documents
from .validate_tests import TEST_KIND, TestsReport, check_test_documents

PASSED, FAILED = "passed", "failed"


@dataclass(frozen=True, slots=True)
class Actual:
    """What the policy made of a case's item: a decision, a gate result, or an error."""

    decision: Decision | None = None
    gate: GateResult | None = None
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        if self.gate is not None:
            return {"result": self.gate.result, "unmet": list(held_by(self.gate))}
        assert self.decision is not None
        out, rule = self.decision.outcome, self.decision.rule
        return {"outcome": list(out) if isinstance(out, tuple) else out,
                "rule": list(rule) if isinstance(rule, tuple) else rule}

    def describe(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        if self.gate is not None:
            unmet = held_by(self.gate)
            return f"result {self.gate.result}" + (f", unmet {shown(unmet)}" if unmet else "")
        assert self.decision is not None
        return f"outcome {shown(self.decision.outcome)}, rule {shown(self.decision.rule)}"

    def explain(self) -> str | None:
        """The explanation of the actual decision or gate result (None for an error)."""
        if self.gate is not None:
            return self.gate.explain()
        if self.decision is not None:
            return self.decision.explain()
        return None


def held_by(result: GateResult) -> tuple[str, ...]:
    """The names of the criteria that hold a gate result back (not met or unknown), once each."""
    return tuple(dict.fromkeys(criterion.name for criterion in result.held_by))


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case, run: passed or failed, with what was expected and what came out."""

    case: Case
    test_file: TestFile = field(repr=False)
    status: str  # "passed" | "failed"
    actual: Actual = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def name(self) -> str:
        return self.case.name

    @property
    def span(self) -> Span:
        return self.case.span

    @property
    def expected(self) -> Expectation:
        return self.case.expect

    @property
    def message(self) -> str:
        """One line: what was expected and what came out ("" for a case that passed)."""
        if self.passed:
            return ""
        return f"expected {self.expected.describe()}; got {self.actual.describe()}"

    def explanation(self) -> str | None:
        return self.actual.explain()


@dataclass(frozen=True, slots=True)
class Target:
    """Something coverage counts: a classification rule or default, or a gate criterion."""

    policy: str  # the policy's name
    kind: str  # "rule" | "default" | "evidence" | "condition" | "approval"
    name: str  # rule id, default outcome, or criterion name
    span: Span
    gate: str | None = None  # a criterion's gate id
    cases: int = 0  # how many cases exercised it
    statuses: tuple[str, ...] = ()  # a criterion's statuses seen, in the order met, not_met, unknown

    @property
    def covered(self) -> bool:
        return self.cases > 0

    def as_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "kind": self.kind, "name": self.name}
        if self.gate is not None:
            out["gate"] = self.gate
        out.update(source=self.span.short, covered=self.covered, cases=self.cases)
        if self.kind not in ("rule", "default"):
            out["statuses"] = list(self.statuses)
        return out


@dataclass(frozen=True, slots=True)
class Coverage:
    """Every target of the tested policies, in source order, and how many cases reached each."""

    targets: tuple[Target, ...]

    @property
    def total(self) -> int:
        return len(self.targets)

    @property
    def covered(self) -> int:
        return sum(1 for target in self.targets if target.covered)

    @property
    def missed(self) -> tuple[Target, ...]:
        return tuple(target for target in self.targets if not target.covered)

    @property
    def percent(self) -> float:
        """Covered targets as a share of all, 0 to 100 (100 when there is nothing to cover)."""
        return 100.0 if not self.targets else 100.0 * self.covered / self.total


@dataclass(frozen=True, slots=True)
class TestRun:
    """The result of running test files: every case in file order, and coverage."""

    __test__ = False  # not a pytest class

    files: tuple[TestFile, ...]
    results: tuple[CaseResult, ...]
    coverage: Coverage

    @property
    def passed(self) -> int:
        return sum(1 for result in self.results if result.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def results_of(self, test_file: TestFile) -> tuple[CaseResult, ...]:
        return tuple(result for result in self.results if result.test_file is test_file)


def run_tests(paths: str | Iterable[str]) -> TestRun:
    """Find, check and run the policy tests under `paths` (test files or folders).

    Raises `PolicyError` with every problem in the test files or the policies they test, and
    `UsageError` when a path does not exist or no test file is found.
    """
    report = collect([paths] if isinstance(paths, str) else list(paths))
    if report.errors:
        error = PolicyError(report.errors)
        error.sources = report.sources  # type: ignore[attr-defined]
        raise error
    return run_files(report)


def collect(paths: list[str] | tuple[str, ...]) -> TestsReport:
    """Find the test documents under `paths` (files as given, folders searched recursively) and
    check them, each against the policy set it names (see `validate_tests.py`).

    The policies found under `paths` are checked too, file by file, so that a broken policy
    beside the tests fails the run even when no test names it; other YAML is passed over. A
    path that does not exist, or paths that hold no test and no problem, are a `UsageError`.
    """
    if not paths:
        raise UsageError("no tests to run: name a test file or a folder of them")
    files, problems = discover(paths)
    missing = [p for p in problems if p.code == "file-missing"]
    if missing:
        raise UsageError(missing[0].message)
    diagnostics: list[Diagnostic] = []
    documents: list[Document] = []
    sources: dict[str, str] = {}
    for path in files:
        docs, parse_problems = read_file(path)
        # a file that does not parse may be a test file: its cases must not silently go missing
        diagnostics.extend(parse_problems)
        if parse_problems or docs:
            sources[path] = docs[0].text if docs else shown_text(path)
        documents.extend(d for d in docs if _kind(d) == TEST_KIND)
        policies = [d for d in docs if _kind(d) not in (None, TEST_KIND)]
        if policies:
            diagnostics.extend(check_documents(policies).errors)
    if not documents and not diagnostics:
        raise UsageError(f"no test files (documents of 'kind: tests') in {listed(paths)}")
    report = check_test_documents(documents)
    report.diagnostics = sorted(dict.fromkeys(diagnostics + report.diagnostics), key=diagnostic_order)
    report.sources.update(sources)
    return report


def _kind(document: Document) -> str | None:
    """A Rulebook document's kind (None for other YAML)."""
    data = document.data
    if not isinstance(data, dict) or ("kind" not in data and "rulebook" not in data):
        return None
    return str(data.get("kind"))


def run_files(report: TestsReport | Iterable[TestFile]) -> TestRun:
    """Run checked test files (from `collect`)."""
    files = tuple(report.files if isinstance(report, TestsReport) else report)
    results = tuple(run_case(test_file, case) for test_file in files for case in test_file.cases)
    return TestRun(files, results, measure(files, results))


def run_case(test_file: TestFile, case: Case) -> CaseResult:
    """Run one case against its file's policy set."""
    try:
        if case.gate:
            actual = Actual(gate=test_file.policy.gate(case.item, to=case.to))
        else:
            actual = Actual(decision=test_file.policy.classify(case.item, trace=True))
    except ItemError as error:
        actual = Actual(error=error.message)
    except RulebookError as error:  # e.g. a stage the item cannot move to from where it is
        actual = Actual(error=str(error))
    return CaseResult(case, test_file, PASSED if matches(case.expect, actual) else FAILED, actual)


def matches(expect: Expectation, actual: Actual) -> bool:
    """Whether what came out is what the case expects."""
    if actual.error is not None:
        if not expect.expects_error:
            return False
        return expect.error is True or str(expect.error).casefold() in actual.error.casefold()
    if expect.expects_error:
        return False
    if actual.gate is not None:
        if expect.result is not None and actual.gate.result != expect.result:
            return False
        return expect.unmet is None or set(expect.unmet) == set(held_by(actual.gate))
    decision = actual.decision
    assert decision is not None
    if decision.verdict.collect:  # lists of outcomes and rules, compared as sets
        if expect.outcome is not None and set(expect.outcome) != set(decision.outcome):
            return False
        return not expect.checks_rule or set(expect.rule) == set(decision.rule)
    if expect.outcome is not None and decision.outcome != expect.outcome:
        return False
    return not expect.checks_rule or decision.rule == expect.rule


# -- coverage -------------------------------------------------------------------------------------

STATUSES = ("met", "not_met", "unknown")


def _policy_key(policy: ClassificationPolicy | GatesPolicy) -> tuple[str, str, str]:
    return (policy.file, policy.name, policy.sha256)


def targets_of(policy: ClassificationPolicy | GatesPolicy) -> list[tuple[Any, Target]]:
    """(key, target) for everything coverage counts in one policy, in source order."""
    key = _policy_key(policy)
    found: list[tuple[Any, Target]] = []
    if isinstance(policy, ClassificationPolicy):
        for rule in policy.rules:
            found.append(((key, "rule", rule.id), Target(policy.name, "rule", rule.id, rule.span)))
        if policy.default is not None:
            default = policy.default
            found.append(((key, "default"), Target(policy.name, "default", default.outcome, default.span)))
        return found
    for gate in policy.gates:
        criteria = [("evidence", e.field, e.span) for e in gate.require]
        criteria += [("condition", c.name, c.span) for c in gate.conditions]
        criteria += [("approval", a.name, a.span) for a in gate.approvals]
        for kind, name, span in criteria:
            found.append(((key, kind, span), Target(policy.name, kind, name, span, gate.id)))
    return found


def measure(files: Iterable[TestFile], results: Iterable[CaseResult]) -> Coverage:
    """Which targets of the tested policies the cases exercised."""
    targets: dict[Any, Target] = {}
    for test_file in files:
        for policy in test_file.tested:
            for key, target in targets_of(policy):
                targets.setdefault(key, target)
    cases: dict[Any, int] = {}
    statuses: dict[Any, set[str]] = {}
    for result in results:
        for key, status in _exercised(result):
            cases[key] = cases.get(key, 0) + 1
            statuses.setdefault(key, set()).add(status)
    ordered = sorted(targets.items(), key=lambda pair: (pair[1].span.file, pair[1].span.line, pair[1].span.column))
    return Coverage(tuple(
        Target(t.policy, t.kind, t.name, t.span, t.gate, cases.get(key, 0),
               tuple(s for s in STATUSES if s in statuses.get(key, ())))
        for key, t in ordered
    ))


def _exercised(result: CaseResult) -> list[tuple[Any, str]]:
    """(target key, status) for every target a case's evaluation reached."""
    actual = result.actual
    if actual.decision is not None:
        verdict = actual.decision.verdict
        key = _policy_key(result.test_file.policy.classification)
        if verdict.is_default:
            return [((key, "default"), "met")]
        return [((key, "rule", rule.id), "met") for rule in verdict.rules]
    if actual.gate is not None:
        key = _policy_key(actual.gate.gates_policy)
        return [((key, c.kind, c.span), c.status) for c in actual.gate.criteria if c.kind != "skip"]
    return []
