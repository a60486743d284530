"""Validate stage, test kind: `kind: tests` documents -> checked test files, each bound to the
policy set it tests.

A test file names a policy set (`policy`, relative to the file) and lists agreed cases: an
item and what the set must make of it. The schema pass (see `validate.py`) has checked the
structure; this module loads the named policy set with the same checks as any policy (its
problems are reported where they are), then checks every case against it: the outcomes, rule
ids, stages and criterion names a case expects must exist in the tested policies (with a
"did you mean"), and case names are unique. A case that can never pass (a rule expected with
an outcome it does not give, say) and a misspelt item field are warnings. Like every check here
it reports problems at paths (it extends the same `DocumentBuilder`); nothing is run.
`testrun.py` finds test files and runs the checked cases.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from typing import Any

from .api import Policy
from .cases import Case, Expectation, TestFile
from .errors import (
    Diagnostic,
    SeveralPolicies,
    Span,
    UsageError,
    counted,
    did_you_mean,
    listed,
)
from .gates import RESULTS
from .loader import Document, Path
from .model import IMPLICIT_FIELDS, ClassificationPolicy, GatesPolicy
from .sandbox import parse_moment
from .validate import DocumentBuilder, Report, _order, _schema_diagnostics, check_paths

TEST_KIND = "tests"
EXPECT_KEYS = ("expect", "expected")  # the second is another spelling of the first
NAME_KEYS = ("name", "id")
GATE_KEYS = ("result", "unmet")  # an expectation naming one of these checks a gate
CLASSIFICATION_KEYS = ("outcome", "rule")


@dataclass(slots=True)
class TestsReport:
    """Checked test files, and every problem found in them and in the policy sets they name."""

    __test__ = False

    files: list[TestFile]
    diagnostics: list[Diagnostic]
    sources: dict[str, str]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


class _PolicySets:
    """The policy sets test files name, each checked (and compiled) once however many files name it."""

    def __init__(self) -> None:
        self.reports: dict[tuple[str, ...], Report] = {}
        self.policies: dict[tuple[tuple[str, ...], str | None, _dt.date | None], Policy] = {}

    def report(self, paths: tuple[str, ...]) -> Report:
        if paths not in self.reports:
            self.reports[paths] = check_paths(list(paths))
        return self.reports[paths]

    def policy(self, paths: tuple[str, ...], name: str | None, as_of: _dt.date | None) -> Policy:
        key = (paths, name, as_of)
        if key not in self.policies:
            policy_set = self.report(paths).policy_set
            assert policy_set is not None
            self.policies[key] = Policy(policy_set, name, as_of)
        return self.policies[key]


def check_test_documents(documents: list[Document]) -> TestsReport:
    """Check `kind: tests` documents, and the policy sets they name."""
    sets = _PolicySets()
    files: list[TestFile] = []
    diagnostics: list[Diagnostic] = []
    for document in documents:
        problems = list(_schema_diagnostics(document))
        builder = TestsBuilder(document)
        test_file = builder.build(sets)
        diagnostics.extend(problems + builder.diagnostics)
        if test_file is None or problems or builder.errors:
            continue
        files.append(test_file)
    for report in sets.reports.values():  # the tested policies' own problems, each once
        diagnostics.extend(report.errors)
    sources = {document.file: document.text for document in documents}
    for report in sets.reports.values():
        sources.update(report.sources)
    diagnostics = list(dict.fromkeys(diagnostics))
    diagnostics.sort(key=_order)
    return TestsReport(files, diagnostics, sources)


class _Target:
    """The tested policy set, and the policy of each kind its cases use (each problem reported once)."""

    def __init__(self, builder: TestsBuilder, policy: Policy, paths: tuple[str, ...]):
        self.builder = builder
        self.policy = policy
        self.paths = paths
        self.chosen: dict[str, Any] = {}

    def classification(self, at: Path | None) -> ClassificationPolicy | None:
        """The classification policy the cases use; None (reported at `at`) if there is none to use."""
        return self.chosen_policy("classification", at)

    def gates(self, at: Path | None) -> GatesPolicy | None:
        """The gates policy the gate cases use; None (reported at `at`) if there is none to use."""
        if self.chosen_policy("gates", at) is not None and "gater" not in self.chosen:
            self.chosen["gater"] = True
            try:
                self.policy.gater()  # the gates may need the set's classification policy
            except UsageError as error:
                self.chosen["gates"] = None
                problem = error.problem if isinstance(error, SeveralPolicies) else str(error)  # it names --name
                if at is not None:
                    self.builder.problem(at, "policy-kind", f"the gate cases cannot be checked: {problem}",
                                         "choose the classification policy with 'policy_name'")
        return self.chosen["gates"]

    def chosen_policy(self, kind: str, at: Path | None) -> Any:
        """The policy of `kind` the cases use (the only one, or the one `policy_name` names)."""
        if kind not in self.chosen:
            policy_set = self.policy.policy_set
            try:
                self.chosen[kind] = self.policy.classification if kind == "classification" else self.policy.gates
            except UsageError:
                self.chosen[kind] = None
                of_kind = policy_set.classifications if kind == "classification" else policy_set.gate_policies
                self.missing(kind, of_kind, at)
        return self.chosen[kind]

    def missing(self, kind: str, policies: tuple[Any, ...], at: Path | None) -> None:
        if at is None:
            return  # asked only to count the policy for coverage
        what = "classifies items" if kind == "classification" else "checks items at their stage gates"
        if not policies:
            self.builder.problem(at, "policy-kind",
                                 f"this case {what}, but the tested policy set holds no {kind} policy",
                                 "point 'policy' at the file or folder that holds it")
        else:
            names = ", ".join(p.name for p in policies)
            self.builder.problem(at, "policy-kind", f"the tested policy set holds several {kind} policies ({names})",
                                 "choose one with 'policy_name'")

    def tested(self) -> tuple[ClassificationPolicy | GatesPolicy, ...]:
        """The policies the file tests: of each kind, the one the cases would use."""
        found = [self.classification(None), self.gates(None)]
        return tuple(p for p in found if p is not None)

    def booleans(self) -> set[str]:
        """The inputs the tested policies declare as true or false."""
        return {spec.name for policy in self.policy.policy_set.policies for spec in policy.inputs
                if spec.type == "boolean"}

    def known_fields(self) -> set[str]:
        """The top-level item fields the tested policies read (for spotting a misspelt field)."""
        known = {"id", "rule", "because", *IMPLICIT_FIELDS}
        for policy in self.policy.policy_set.policies:
            known.update(spec.path[0] for spec in policy.inputs)
            if isinstance(policy, GatesPolicy):
                known.update(evidence.path[0] for gate in policy.gates for evidence in gate.require)
        return known


class TestsBuilder(DocumentBuilder):
    """Builds a `TestFile` from a `kind: tests` document, collecting semantic problems."""

    __test__ = False

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def warn(self, path: Path, code: str, message: str, hint: str | None = None, at_key: bool = False) -> None:
        span = self.document.key_span(path) if at_key else self.document.value_span(path)
        self.diagnostics.append(Diagnostic(code, message, span, hint, severity="warning"))

    def build(self, sets: _PolicySets) -> TestFile | None:
        data = self.data
        as_of = self.as_of(data.get("as_of"))
        target = self.target(data.get("policy"), data.get("policy_name"), sets, as_of)
        if target is None:
            return None
        cases = self.cases(data.get("cases"), target)
        if "as_of" not in data and any(policy.reads_as_of for policy in target.tested()):
            self.problem(("policy",), "as-of-missing", "the tested policy calls days_since(), so its cases need "
                         "'as_of', the date they are written for", "add 'as_of: 2026-12-02' (that date), so the "
                         "cases give the same result on any day they run")
        if self.errors:
            return None
        name = data.get("name")
        if not isinstance(name, str):
            name = os.path.splitext(os.path.basename(self.document.file))[0]
        description = data.get("description") if isinstance(data.get("description"), str) else None
        return TestFile(name, self.document.span, target.paths, target.policy, tuple(cases), description,
                        target.tested())

    # -- the tested policy set

    def as_of(self, declared: Any) -> _dt.date | None:
        """The date days_since() counts to in these cases, if the file names one."""
        if not isinstance(declared, str):
            return None  # absent, or not text: the schema pass has reported it
        parsed = parse_moment(declared)
        if parsed is None:
            self.problem(("as_of",), "type-mismatch", f"{declared!r} is not a date",
                         "write it as '2026-12-02', or '2026-12-02T09:30:00Z' for a moment")
        return parsed

    def target(self, declared: Any, policy_name: Any, sets: _PolicySets, as_of: _dt.date | None) -> _Target | None:
        if isinstance(declared, str):
            written = [(declared, ("policy",))]
        elif isinstance(declared, list):
            written = [(p, ("policy", i)) for i, p in enumerate(declared) if isinstance(p, str)]
        else:
            return None  # missing or malformed: the schema pass has reported it
        if not all(text.strip() for text, _ in written):
            return None  # an empty path: the schema pass has reported it
        resolved = [self.resolve(text, at) for text, at in written]
        if not resolved or any(path is None for path in resolved):
            return None
        paths = tuple(path for path in resolved if path is not None)
        report = sets.report(paths)
        if report.policy_set is None:
            errors = len(report.errors)
            self.problem(("policy",), "invalid-policy",
                         f"the tested policy set {listed(paths)} is invalid ({counted(errors, 'error')}); "
                         "its cases cannot run",
                         "fix the problems reported in the policy first")
            return None
        policies = report.policy_set.policies
        if not policies:
            self.problem(("policy",), "no-policy", f"{listed(paths)} holds no classification or gates policy",
                         "'policy' names the policy file or folder the cases test, relative to this file")
            return None
        name = policy_name if isinstance(policy_name, str) else None
        if name is not None and name not in [p.name for p in policies]:
            known = [p.name for p in policies]
            self.problem(("policy_name",), "unknown-policy", f"the tested policy set holds no policy named '{name}'",
                         did_you_mean(name, known) or "policies: " + ", ".join(known))
            return None
        return _Target(self, sets.policy(paths, name, as_of), paths)

    def resolve(self, written: str, at: Path) -> str | None:
        """The path of a policy file or folder named relative to the test file."""
        base = os.path.dirname(self.document.file)
        path = os.path.normpath(os.path.join(base, written))
        if os.path.exists(path):
            return path
        if not os.path.isabs(written) and os.path.exists(written):
            # written relative to the working folder: accepted, but the run depends on where it starts
            self.warn(at, "policy-path", f"'{written}' is not found next to the test file; using '{written}' "
                      "from the working folder", f"write it relative to the test file's folder: "
                      f"'{os.path.relpath(os.path.normpath(written), base or '.')}'")
            return os.path.normpath(written)
        self.problem(at, "policy-missing", f"no such policy file or folder '{written}'",
                     f"'policy' is relative to the test file's folder '{base or '.'}', so it names '{path}'")
        return None

    # -- cases

    def cases(self, declared: Any, target: _Target) -> list[Case]:
        if not isinstance(declared, list):
            return []
        found: list[Case] = []
        first: dict[str, Span] = {}
        known = target.known_fields()
        for index, entry in enumerate(declared):
            path: Path = ("cases", index)
            if not isinstance(entry, dict):
                continue
            name, name_key = self.case_name(entry, path)
            if name is not None:
                if name in first:
                    self.problem(path + (name_key,), "duplicate-case", f"case name '{name}' is used twice",
                                 f"the first is at line {first[name].line}; case names must be unique in a file")
                else:
                    first[name] = self.document.value_span(path + (name_key,))
            case = self.case(entry, path, name, target)
            if isinstance(entry.get("item"), dict):
                self.item_fields(entry["item"], path + ("item",), known)
                self.yaml_readings(entry["item"], path + ("item",), len(path) + 1, target.booleans())
            if case is not None:
                found.append(case)
        return found

    def one_of(self, entry: dict[str, Any], path: Path, keys: tuple[str, ...]) -> str | None:
        """Which of `keys` (spellings of one key) the entry uses; two at once is a problem."""
        present = [key for key in keys if key in entry]
        if len(present) > 1:
            self.problem(path + (present[1],), "duplicate-key", f"'{present[1]}' and '{present[0]}' are the same key",
                         f"write only '{keys[0]}'", at_key=True)
        return present[0] if present else None

    def case_name(self, entry: dict[str, Any], path: Path) -> tuple[str | None, str]:
        key = self.one_of(entry, path, NAME_KEYS)
        if key is None:
            self.problem(path, "missing-key", f"case {path[-1] + 1} has no 'name'",  # type: ignore[operator]
                         "give each case a name, unique in the file; reports name the case by it")
            return None, "name"
        name = entry[key]
        if isinstance(name, bool) or not isinstance(name, (str, int, float)):
            return None, key  # the schema pass has reported it
        if isinstance(name, str) and not name.strip():
            self.problem(path + (key,), "invalid-value", "a case name must not be empty")
            return None, key
        node = self.document.nodes.get(path + (key,))
        return (node.raw if node is not None and node.raw is not None and not isinstance(name, str) else str(name)), key

    def case(self, entry: dict[str, Any], path: Path, name: str | None, target: _Target) -> Case | None:
        expect_key = self.one_of(entry, path, EXPECT_KEYS)
        item = entry.get("item")
        if expect_key is None:
            self.problem(path, "missing-key", f"case '{name}' has no 'expect'" if name else "the case has no 'expect'",
                         "say what the policy must decide, e.g. expect: {outcome: initiative, rule: needs-funding}")
            return None
        raw = entry[expect_key]
        at = path + (expect_key,)
        gate = entry.get("gate")
        is_gate = (gate is not None and gate is not False) or (
            isinstance(raw, dict) and any(key in raw for key in GATE_KEYS))
        if is_gate:
            to, expectation = self.gate_case(gate, path if "gate" in entry else None, raw, at, target)
        else:
            to, expectation = None, self.classification_case(raw, at, target)
        if expectation is None or name is None or not isinstance(item, dict):
            return None
        description = entry.get("description") if isinstance(entry.get("description"), str) else None
        return Case(name, item, expectation, self.document.value_span(path), is_gate, to, description)

    def common(self, raw: Any, at: Path, other: tuple[str, ...], kind: str) -> dict[str, Any] | None:
        """The expectation as a mapping; keys of the other kind of case, and an error with
        anything else, are problems."""
        if not isinstance(raw, dict):
            return None
        for key in other:
            if key in raw:
                mine = GATE_KEYS if kind == "gate" else CLASSIFICATION_KEYS
                self.problem(at + (key,), "invalid-expectation",
                             f"'{key}' is for {'classification' if kind == 'gate' else 'gate'} cases; "
                             f"a {kind} case expects {listed(mine)}", at_key=True)
                return None
        if "error" in raw and raw["error"] is not False and len(raw) > 1:
            self.problem(at + ("error",), "invalid-expectation",
                         "an expected error stands alone: an item that cannot be decided has no other result",
                         "write the error in a case of its own", at_key=True)
            return None
        return raw

    def error_of(self, raw: dict[str, Any]) -> str | bool | None:
        error = raw.get("error")
        return error if isinstance(error, (str, bool)) else None

    # -- classification cases

    def classification_case(self, raw: Any, at: Path, target: _Target) -> Expectation | None:
        policy = target.classification(at)
        if policy is None:
            return None
        if isinstance(raw, str):
            raw, at_outcome = {"outcome": raw}, at
        else:
            at_outcome = at + ("outcome",)
        expected = self.common(raw, at, GATE_KEYS, "classification")
        if expected is None:
            return None
        collect = policy.hit == "collect"
        outcome = self.outcome(expected.get("outcome"), at_outcome, policy, collect)
        checks_rule = "rule" in expected
        rule = self.rule(expected.get("rule"), at + ("rule",), policy, collect) if checks_rule else None
        if outcome is False or rule is False:
            return None
        if isinstance(outcome, str) and checks_rule and not isinstance(rule, tuple):
            decider = policy.rule(rule) if rule is not None else policy.default
            if decider is not None and decider.outcome != outcome:
                who = f"rule '{rule}'" if rule is not None else "the default"
                self.cannot_pass(at + ("rule",), f"{who} gives '{decider.outcome}', never '{outcome}'",
                                 f"expect outcome '{decider.outcome}', or another rule")
        return Expectation(outcome, rule, checks_rule, self.error_of(expected))

    def cannot_pass(self, at: Path, why: str, hint: str, at_key: bool = False) -> None:
        """A case that can never pass is run all the same (and fails), with a warning when it loads."""
        span = self.document.key_span(at) if at_key else self.document.value_span(at)
        self.diagnostics.append(Diagnostic("cannot-pass", f"this case cannot pass: {why}", span, hint, "warning"))

    def outcome(self, declared: Any, at: Path, policy: ClassificationPolicy, collect: bool) -> Any:
        """The expected outcome (a tuple under collect); None when not given; False on a problem."""
        if declared is None:
            return None
        names = [declared] if isinstance(declared, str) else [n for n in declared if isinstance(n, str)] \
            if isinstance(declared, list) else []
        if not names:
            return False  # not text: the schema pass has reported it
        several = isinstance(declared, list) and not collect and len(names) > 1
        if several:
            self.cannot_pass(at, f"'{policy.name}' decides one outcome per item (hit: {policy.hit}), not a list",
                             "a list of outcomes is for policies with hit: collect")
        ok = True
        for index, name in enumerate(names):
            where = at + (index,) if isinstance(declared, list) else at
            if name not in policy.outcome_names:
                self.problem(where, "unknown-outcome", f"'{name}' is not an outcome of '{policy.name}'",
                             did_you_mean(name, policy.outcome_names) or "outcomes: " + ", ".join(policy.outcome_names))
                ok = False
        if not ok:
            return False
        return tuple(names) if collect or several else names[0]

    def rule(self, declared: Any, at: Path, policy: ClassificationPolicy, collect: bool) -> Any:
        """The expected rule id (None for the default; a tuple under collect); False on a problem."""
        ids = declared if isinstance(declared, list) else [declared]
        if not ids or not all(rule_id is None or isinstance(rule_id, str) for rule_id in ids):
            return False  # not rule ids: the schema pass has reported it
        several = isinstance(declared, list) and not collect and len(ids) > 1
        if several:
            self.cannot_pass(at, f"one rule decides each item of '{policy.name}' (hit: {policy.hit}), not a list",
                             "a list of rules is for policies with hit: collect")
        known = [r.id for r in policy.rules]
        ok = True
        for index, rule_id in enumerate(ids):
            where = at + (index,) if isinstance(declared, list) else at
            if rule_id is None:
                if policy.default is None:
                    self.cannot_pass(where, f"'{policy.name}' has no default, so no item is decided by it",
                                     "'rule: null' expects the policy's default; name the rule that decides instead")
            elif isinstance(rule_id, str) and rule_id not in known:
                self.problem(where, "unknown-rule", f"'{rule_id}' is not a rule of '{policy.name}'",
                             did_you_mean(rule_id, known) or "rules: " + ", ".join(known))
                ok = False
        if not ok:
            return False
        return tuple(ids) if collect or several else ids[0]

    # -- gate cases

    def gate_case(self, gate: Any, path: Path | None, raw: Any, at: Path,
                  target: _Target) -> tuple[str | None, Expectation | None]:
        """`path` is the case's, when it has a `gate` key; `at` is its expectation's."""
        policy = target.gates(path + ("gate",) if path is not None else at)
        if policy is None:
            return None, None
        to = self.stage(gate, path + ("gate",), policy) if path is not None else None
        if isinstance(raw, str):
            if raw not in RESULTS:
                self.problem(at, "invalid-value",
                             f"a gate case expects a result: one of {listed(RESULTS)}, not '{raw}'",
                             did_you_mean(raw, RESULTS))
                return None, None
            return (None, None) if to is False else (to, Expectation(result=raw))
        expected = self.common(raw, at, CLASSIFICATION_KEYS, "gate")
        if expected is None:
            return None, None
        result = expected.get("result") if expected.get("result") in RESULTS else None
        unmet = self.unmet(expected.get("unmet"), at + ("unmet",), policy) if "unmet" in expected else None
        if unmet is False or to is False:
            return None, None
        if unmet and result in ("pass", "not_applicable"):
            why = "an item that passes meets every criterion" if result == "pass" else \
                "no criterion is checked for an item the gates do not apply to"
            self.cannot_pass(at + ("unmet",), f"result '{result}' with unmet criteria: {why}",
                             "expect result: fail, or no unmet criteria", at_key=True)
        return to, Expectation(result=result, unmet=unmet, error=self.error_of(expected))

    def stage(self, gate: Any, at: Path, policy: GatesPolicy) -> str | None | bool:
        """The stage a gate case moves to (None: the item's own choice); False on a problem."""
        if isinstance(gate, dict):
            gate, at = gate.get("to"), at + ("to",)
        if not isinstance(gate, str):
            return None
        if gate not in policy.stages:
            self.problem(at, "unknown-stage", f"'{gate}' is not a stage of '{policy.name}'",
                         did_you_mean(gate, policy.stages) or "stages: " + ", ".join(policy.stages))
            return False
        return gate

    def unmet(self, declared: Any, at: Path, policy: GatesPolicy) -> tuple[str, ...] | bool:
        names = [declared] if isinstance(declared, str) else [n for n in declared if isinstance(n, str)] \
            if isinstance(declared, list) else []
        known = criterion_names(policy)
        ok = True
        for index, name in enumerate(names):
            where = at + (index,) if isinstance(declared, list) else at
            if name not in known:
                self.problem(where, "unknown-criterion", f"'{name}' is not a criterion of '{policy.name}'",
                             did_you_mean(name, known) or "criteria: " + ", ".join(known))
                ok = False
        return tuple(dict.fromkeys(names)) if ok else False

    # -- items

    def item_fields(self, item: dict[str, Any], at: Path, known: set[str]) -> None:
        """Warn about an item field no tested policy reads but one it does is spelt like."""
        for key in item:
            if key in known:
                continue
            hint = did_you_mean(key, sorted(known))
            if hint is not None:
                self.warn(at + (key,), "unread-field", f"no tested policy reads a field '{key}'", hint, at_key=True)

    def yaml_readings(self, value: Any, at: Path, depth: int, booleans: set[str]) -> None:
        """Warn where YAML has read an unquoted yes, no, on or off as true or false, except for
        declared true-or-false inputs (where that is what the author meant), and an unquoted
        number as another than it seems (0123 as 83)."""
        if isinstance(value, dict):
            for key, inner in value.items():
                self.yaml_readings(inner, at + (key,), depth, booleans)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                self.yaml_readings(inner, at + (index,), depth, booleans)
        elif isinstance(value, bool):
            node = self.document.nodes.get(at)
            name = ".".join(part for part in at[depth:] if isinstance(part, str))
            if node is not None and node.style is None and (node.raw or "").lower() in ("yes", "no", "on", "off") \
                    and name not in booleans:
                self.warn(at, "yaml-boolean", f"YAML reads unquoted {node.raw} as {'true' if value else 'false'}",
                          f"write '{node.raw}' in quotes for the text")
        elif isinstance(value, (int, float)):
            node = self.document.nodes.get(at)
            raw = (node.raw or "") if node is not None and node.style is None else ""
            if _SURPRISING_NUMBER.match(raw):  # 0123 is octal (83), 1:30 counts in sixties (90), 0x1F is 31
                self.warn(at, "yaml-number", f"YAML reads unquoted {raw} as {value}",
                          f"write '{raw}' in quotes for the text")


_SURPRISING_NUMBER = re.compile(r"[-+]?(0[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$")


def criterion_names(policy: GatesPolicy) -> list[str]:
    """The names gate results give the policy's criteria (and 'skip', a refused skip), in order."""
    names: list[str] = []
    for gate in policy.gates:
        names.extend(evidence.field for evidence in gate.require)
        names.extend(condition.name for condition in gate.conditions)
        names.extend(approval.name for approval in gate.approvals)
    if not policy.allow_skip:
        names.append("skip")
    return list(dict.fromkeys(names))
