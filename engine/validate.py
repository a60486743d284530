"""Validate stage: documents -> a checked policy set, or every problem with its location.

Each document is checked against the published JSON Schema (structure), then semantically:
inputs and their defaults, outcomes, rules, every expression (names, types, enum values),
rule ids, the default, and priorities against the hit policy. Checks only yield
`(path, code, message, hint)`; one driver turns paths into `file:line:column` through the
document's span table. Semantic checks look only at parts whose shape the schema accepted,
so one run reports every problem in every file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from . import expressions as ex
from .errors import Diagnostic, PolicyError, Span, did_you_mean
from .loader import Document, Path, discover, read_file, shown_text
from .model import (
    ClassificationPolicy,
    Condition,
    DefaultOutcome,
    GatesPolicy,
    InputSpec,
    Outcome,
    Rule,
)
from .inputs import ValueProblem, convert, shown
from .schema import policy_checker

DECISION_KINDS = ("classification", "gates")
DOCUMENT_KINDS = (*DECISION_KINDS, "tests")
# levels of all:, any: and not: (written so, or as and, or, not in an expression) in one
# condition: the generated code brackets each level twice, and Python's parser takes 200
# brackets (with expressions nesting at most ex.MAX_EXPRESSION_DEPTH within)
MAX_CONDITION_DEPTH = 30


def rulebook_document(data: dict[str, Any]) -> bool:
    """Whether a YAML mapping is meant as a Rulebook document: it has a 'rulebook' key, or a
    'kind' of Rulebook's own (or one misspelt, which the schema then names). Rule lists written
    for other engines often say `kind:` of their own."""
    if "rulebook" in data:
        return True
    kind = data.get("kind")
    if kind is None:
        return "kind" in data
    return isinstance(kind, str) and (kind in DOCUMENT_KINDS or did_you_mean(kind, DOCUMENT_KINDS) is not None)


@dataclass(slots=True)
class PolicySet:
    """Every policy found under the given paths, checked."""

    classifications: tuple[ClassificationPolicy, ...]
    files: tuple[str, ...]
    documents: tuple[Document, ...] = field(repr=False, default=())
    gate_policies: tuple[GatesPolicy, ...] = ()
    rule_lists: tuple[str, ...] = ()  # files skipped as rule lists written for another engine

    @property
    def policies(self) -> tuple[ClassificationPolicy | GatesPolicy, ...]:
        """Every policy of every kind, in the order of their files."""
        return tuple(sorted((*self.classifications, *self.gate_policies), key=lambda p: (p.span.file, p.span.line)))

    def gates(self, name: str | None = None) -> GatesPolicy:
        """The gates policy named `name`, or the only one there is."""
        return _choose(self.gate_policies, name, "gates", self.rule_lists)

    def classification(self, name: str | None = None) -> ClassificationPolicy:
        """The classification policy named `name`, or the only one there is."""
        return _choose(self.classifications, name, "classification", self.rule_lists)


def no_policy_message(kind: str | None, rule_lists: tuple[str, ...] = ()) -> str:
    """That a policy set holds no policy (of `kind`), naming the rule lists written for another
    engine that it passed over, with the command that translates each."""
    imports = "".join(f"; {file} is a rule list for another engine: 'rulebook import {file}' translates it"
                      for file in rule_lists)
    return f"the policy set holds no {kind + ' ' if kind else ''}policy{imports}"


def _choose(policies: tuple[Any, ...], name: str | None, kind: str, rule_lists: tuple[str, ...] = ()) -> Any:
    """The policy of one kind named `name`, or the only one of that kind; else a usage error
    (which names the `rule_lists` skipped, where there is no policy at all)."""
    from .errors import SeveralPolicies, UsageError

    if name is not None:
        for policy in policies:
            if policy.name == name:
                return policy
        known = [p.name for p in policies]
        hint = did_you_mean(name, known)
        raise UsageError(f"no {kind} policy named '{name}'" + (f"; {hint}" if hint else ""))
    if not policies:
        raise UsageError(no_policy_message(kind, rule_lists))
    if len(policies) > 1:
        raise SeveralPolicies(kind, [p.name for p in policies])
    return policies[0]


@dataclass(slots=True)
class Report:
    """The outcome of checking a policy set: the set (when valid) and every diagnostic."""

    policy_set: PolicySet | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str]  # file -> text, for showing the offending line
    test_documents: list[Document] = field(default_factory=list)  # `kind: tests`, set aside unchecked
    test_files: list[Any] = field(default_factory=list)  # validate_tests.TestFile, when asked to check them

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def check_paths(paths: list[str] | tuple[str, ...], names: dict[str, str] | None = None, *,
                tests: bool = False) -> Report:
    """Check every policy file under `paths`; never raises for problems in the policies.

    `names` maps a file's path (normalised) to the name diagnostics and spans give it (a copy
    of a file at a git revision is shown as `REF:path`). Test documents (`kind: tests`) are
    set aside; with `tests` they are checked too, each against the policy set it names (see
    `validate_tests.py`)."""
    files, diagnostics = discover(paths)
    documents: list[Document] = []
    sources: dict[str, str] = {}
    for path in files:
        shown = names.get(os.path.normpath(path), path) if names else path
        docs, problems = read_file(path, shown)
        diagnostics.extend(problems)
        documents.extend(docs)
        if not problems and all(document.data is None for document in docs):
            diagnostics.append(Diagnostic("not-a-policy", "the file is empty or holds only comments; skipped",
                                          Span(shown, 1, 1), "a policy starts with 'rulebook: 1' and 'kind: "
                                          "classification' (or 'kind: gates')", severity="warning"))
        if docs:
            sources[shown] = docs[0].text
        elif problems:
            sources[shown] = shown_text(path)
    report = check_documents(documents)
    report.diagnostics[:0] = diagnostics
    report.sources.update(sources)
    if tests and report.test_documents:
        from .validate_tests import check_test_documents

        checked = check_test_documents(report.test_documents)
        report.test_files = list(checked.files)
        report.sources.update(checked.sources)
        # a tested policy in the same folder is checked twice; its problems are reported once
        report.diagnostics = list(dict.fromkeys(report.diagnostics + checked.diagnostics))
    report.diagnostics.sort(key=_order)
    if report.errors:
        report.policy_set = None
    else:
        assert report.policy_set is not None
        report.policy_set.files = tuple(files)
    return report


def check_documents(documents: list[Document]) -> Report:
    """Check parsed documents (from files or from text) and build the policy set."""
    diagnostics: list[Diagnostic] = []
    classifications: list[ClassificationPolicy] = []
    gate_policies: list[GatesPolicy] = []
    gate_documents: list[tuple[Document, bool]] = []
    kept: list[Document] = []
    test_documents: list[Document] = []
    names: dict[str, Span] = {}

    def named(policy: Any, document: Document) -> bool:
        """Whether the policy's name is new in the set (else a diagnostic says where it was first)."""
        if policy.name in names:
            diagnostics.append(
                Diagnostic(
                    "duplicate-policy",
                    f"a policy named '{policy.name}' is already defined",
                    document.value_span(("name",)),
                    f"the first is at {names[policy.name]}",
                )
            )
            return False
        names[policy.name] = document.value_span(("name",))
        return True

    for document in documents:
        data = document.data
        if data is None:
            continue
        if not isinstance(data, dict):
            diagnostics.append(
                Diagnostic("not-a-policy", f"a policy document must be a mapping, not {_word(data)}", document.span)
            )
            continue
        if not rulebook_document(data):
            diagnostics.append(
                Diagnostic(
                    "not-a-policy",
                    "not a Rulebook document (no 'rulebook' key, nor a Rulebook 'kind'); skipped",
                    document.span,
                    f"a rule list written for another engine? 'rulebook import {document.file}' translates it"
                    if isinstance(data.get("rules"), list)
                    else "a policy starts with 'rulebook: 1' and 'kind: classification' (or 'kind: gates')",
                    severity="warning",
                )
            )
            continue
        if data.get("kind") == "tests":
            # agreed cases for `rulebook test`, not policy: deciding items never reads them
            test_documents.append(document)
            continue
        kept.append(document)
        problems = list(_schema_diagnostics(document))
        diagnostics.extend(problems)
        if data.get("kind") == "classification" and data.get("rulebook") == 1:
            builder = _ClassificationBuilder(document)
            policy = builder.build()
            diagnostics.extend(builder.diagnostics)
            if policy is not None and not problems and not builder.diagnostics and named(policy, document):
                classifications.append(policy)
        elif data.get("kind") == "gates" and data.get("rulebook") == 1:
            gate_documents.append((document, not problems))
    # gates come second: their conditions may compare `outcome` with the classifications' outcomes
    from .validate_gates import GatesBuilder

    outcomes = tuple(dict.fromkeys(name for policy in classifications for name in policy.outcome_names))
    for document, structured in gate_documents:
        gates_builder = GatesBuilder(document)
        gates_policy = gates_builder.build(outcomes)
        diagnostics.extend(gates_builder.diagnostics)
        if gates_policy is not None and structured and named(gates_policy, document):
            gate_policies.append(gates_policy)
            diagnostics.extend(_outcome_for_gates(gates_policy, classifications))
    errors = [d for d in diagnostics if d.severity == "error"]
    rule_lists = tuple(dict.fromkeys(document.file for document in documents if isinstance(document.data, dict)
                                     and not rulebook_document(document.data) and isinstance(document.data.get("rules"), list)))
    policy_set = None if errors else PolicySet(tuple(classifications), (), tuple(kept), tuple(gate_policies), rule_lists)
    sources = {d.file: d.text for d in documents}
    return Report(policy_set, diagnostics, sources, test_documents)


def _outcome_for_gates(gates: GatesPolicy, classifications: list[ClassificationPolicy]) -> list[Diagnostic]:
    """A gates policy that reads `outcome` beside the classification that would give it, which
    gives several (hit: collect): no item without an outcome of its own could be gated."""
    if len(classifications) != 1 or classifications[0].hit != "collect" or "outcome" not in gates.reads:
        return []
    reading = next(c for c in gates.conditions if c.expr is not None and "outcome" in (*c.expr.reads, *c.expr.presence))
    name = classifications[0].name
    return [Diagnostic("outcome-of-collect", f"the gates read 'outcome', but '{name}' gives several outcomes (hit: collect)",
                       reading.span, "gates read one outcome: classify with hit: first, priority or unique; or check "
                                     "the gates without this classification, on items that carry their outcome")]


def load_policy_set(paths: list[str] | tuple[str, ...]) -> PolicySet:
    """The checked policy set under `paths`; raises `PolicyError` with every problem."""
    report = check_paths(paths)
    if report.policy_set is None:
        error = PolicyError(report.errors)
        error.sources = report.sources  # type: ignore[attr-defined]
        raise error
    return report.policy_set


def _order(diagnostic: Diagnostic) -> tuple[str, int, int]:
    span = diagnostic.span
    return (span.file, span.line, span.column) if span else ("", 0, 0)


def _word(value: Any) -> str:
    from .schema import describe

    return describe(value)


# -- structure ----------------------------------------------------------------------------------


def _schema_diagnostics(document: Document) -> Iterator[Diagnostic]:
    seen: set[tuple[Path, str, str]] = set()
    for problem in policy_checker().problems(document.data):
        # a key checked by both the common and the kind-specific part of the schema counts once
        if (problem.path, problem.code, problem.message) in seen:
            continue
        seen.add((problem.path, problem.code, problem.message))
        span = document.key_span(problem.path) if problem.at_key else document.value_span(problem.path)
        hint = problem.hint
        if problem.code == "wrong-type" and hint is None and "text" in problem.message.split(", not ")[0]:
            hint = _yaml_hint(document, problem.path)
        yield Diagnostic(problem.code, problem.message, span, hint)


def _yaml_hint(document: Document, path: Path) -> str | None:
    """Explain YAML's reading of an unquoted value when that is the likely cause."""
    node = document.nodes.get(path)
    if node is None or node.style is not None or node.raw is None:
        return None
    value = _at(document.data, path)
    if isinstance(value, bool):
        return f"YAML reads unquoted {node.raw} as {'true' if value else 'false'}; write '{node.raw}' in quotes for the text"
    if isinstance(value, (int, float)):
        return f"YAML reads {node.raw} as a number; write '{node.raw}' in quotes for the text"
    if value is None:
        return "the value is empty; write it after the colon"
    return None


def _at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


# -- meaning ------------------------------------------------------------------------------------


class DocumentBuilder:
    """What every kind of policy document shares: problems reported at paths, the version,
    the declared inputs, and condition trees checked against a scope. Each kind subclasses it
    with a `build` method."""

    def __init__(self, document: Document):
        self.document = document
        self.data: dict[str, Any] = document.data
        self.diagnostics: list[Diagnostic] = []
        self.conditions: list[Condition] = []
        self.broken_inputs: list[str] = []

    def problem(self, path: Path, code: str, message: str, hint: str | None = None, at_key: bool = False) -> None:
        span = self.document.key_span(path) if at_key else self.document.value_span(path)
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    def version(self) -> str | None:
        if "version" not in self.data:
            return None
        node = self.document.nodes.get(("version",))
        value = self.data["version"]
        # an unquoted 2026.10 is read by YAML as the number 2026.1; the author meant the text
        if node is not None and node.raw is not None and not isinstance(value, str):
            return node.raw
        return str(value)

    # -- inputs

    def inputs(self, declared: Any) -> list[InputSpec]:
        if not isinstance(declared, dict):
            return []
        specs: list[InputSpec] = []
        for name, declaration in declared.items():
            specs.extend(self.input(name, declaration, ("inputs", name), parent=None))
        first: dict[str, InputSpec] = {}
        for spec in specs:  # `m: {properties: {n: ...}}` and `m.n: ...` declare one field twice
            if spec.name in first:
                self.diagnostics.append(Diagnostic(
                    "duplicate-input", f"input '{spec.name}' is declared twice", spec.span,
                    f"it is also declared at line {first[spec.name].span.line}; keep one of the two"))
            first.setdefault(spec.name, spec)
        seen = set(first)
        for spec in specs:
            parts = spec.name.split(".")
            for cut in range(1, len(parts)):
                prefix = ".".join(parts[:cut])
                if prefix in seen:
                    parent = next(s for s in specs if s.name == prefix)
                    if parent.type != "object":
                        self.problem(("inputs", spec.name), "invalid-input",
                                     f"'{spec.name}' is a field of '{prefix}', which is declared as {ex.TYPE_WORDS[parent.type]}",
                                     f"declare '{prefix}' with type: object", at_key=True)
        return specs

    def reading_hint(self, path: Path, kind: str) -> str | None:
        """YAML's reading of an unquoted value, where that explains why it is no `kind`: a
        number or a boolean for text, nothing at all for anything."""
        return _yaml_hint(self.document, path) if kind == "string" or _at(self.data, path) is None else None

    def input(self, name: str, declaration: Any, path: Path, parent: str | None) -> list[InputSpec]:
        full = f"{parent}.{name}" if parent else name
        if any(part.startswith("__") for part in full.split(".")):
            self.problem(path, "invalid-name", f"input name '{full}' is reserved", "names may not start with '__'", at_key=True)
            return []
        if isinstance(declaration, str):
            declaration = {"type": declaration}
        if not isinstance(declaration, dict) or declaration.get("type") not in ex.TYPE_WORDS or declaration.get("type") == "any":
            self.broken_inputs.append(full)
            return []  # the schema pass has reported it
        kind = declaration["type"]
        span = self.document.key_span(path)
        items = None
        if "items" in declaration:
            if kind != "array":
                self.problem(path + ("items",), "invalid-input", f"'items' is for lists, but '{full}' is {ex.TYPE_WORDS[kind]}", at_key=True)
            else:
                element = self.input(f"{name}[]", declaration["items"], path + ("items",), parent)
                items = element[0] if element else None
        nested: list[InputSpec] = []
        if "properties" in declaration:
            if kind != "object":
                self.problem(path + ("properties",), "invalid-input",
                             f"'properties' is for mappings, but '{full}' is {ex.TYPE_WORDS[kind]}", at_key=True)
            elif isinstance(declaration["properties"], dict):
                for child, child_declaration in declaration["properties"].items():
                    nested.extend(self.input(child, child_declaration, path + ("properties", child), full))
        for bound in ("minimum", "maximum"):
            if bound in declaration and kind not in ("integer", "number"):
                self.problem(path + (bound,), "invalid-input", f"'{bound}' is for numbers, but '{full}' is {ex.TYPE_WORDS[kind]}", at_key=True)
            elif isinstance(declaration.get(bound), float) and math.isnan(declaration[bound]):  # no number is above or below it
                self.problem(path + (bound,), "invalid-input", f"'{bound}' of '{full}' is not a number (NaN)",
                             "write a number, or leave the bound out")
        minimum, maximum = declaration.get("minimum"), declaration.get("maximum")
        if isinstance(minimum, (int, float)) and isinstance(maximum, (int, float)) and minimum > maximum:
            self.problem(path + ("maximum",), "invalid-input", f"maximum {maximum} is below minimum {minimum}")

        def bounded(value: Any) -> int | float | None:
            # only numbers have bounds (anything else is reported above); the default and the
            # enum are checked against those that do
            numeric = kind in ("integer", "number") and isinstance(value, (int, float)) and not isinstance(value, bool)
            return value if numeric and not math.isnan(value) else None

        spec = InputSpec(name=full, type=kind, span=span, items=items, minimum=bounded(minimum), maximum=bounded(maximum))
        enum = declaration.get("enum")
        enum_values = None
        if isinstance(enum, list):
            converted = []
            for index, value in enumerate(enum):
                try:
                    converted.append(convert(value, replace(spec, minimum=None, maximum=None)))
                except ValueProblem as problem:
                    self.problem(path + ("enum", index), "invalid-input", f"enum value {shown(value)} {problem}",
                                 self.reading_hint(path + ("enum", index), kind))
            if len({json.dumps(v, sort_keys=True) for v in enum}) != len(enum):
                self.problem(path + ("enum",), "invalid-input", f"enum of '{full}' lists a value twice")
            enum_values = tuple(converted)
            spec = replace(spec, enum=enum_values)
        has_default = "default" in declaration
        default = None
        if has_default and nested:
            # its properties are inputs of their own, each read with its own default (or none)
            self.problem(path + ("default",), "invalid-default", f"a default for '{full}' as a whole is not used, "
                         "because its properties are declared", "give each property its own default", at_key=True)
        elif has_default:
            try:
                default = convert(declaration["default"], spec)
            except ValueProblem as problem:
                self.problem(path + ("default",), "invalid-default", f"default of '{full}' {problem}",
                             self.reading_hint(path + ("default",), kind))
            if declaration.get("required") is True:
                self.problem(path + ("required",), "invalid-input",
                             f"'{full}' has a default, so it is never missing; 'required' cannot apply",
                             "remove 'required' or the default", at_key=True)
        spec = replace(
            spec,
            default=default,
            has_default=has_default,
            required=declaration.get("required") is True,
            description=declaration.get("description") if isinstance(declaration.get("description"), str) else None,
        )
        return [spec, *nested]

    def scope(self, inputs: list[InputSpec]) -> ex.Scope:
        """The names expressions may read: the given inputs."""
        # inputs whose declaration is broken still count as declared, so that expressions
        # reading them are not reported a second time
        broken = {name: ex.ANY for name in self.broken_inputs}
        return ex.Scope({spec.name: spec for spec in inputs}, broken)

    # -- conditions

    def bounded(self, condition: Condition | None, path: Path) -> Condition | None:
        """A whole condition (see `condition`), or None where it nests too deeply."""
        depth = _depth(condition) if condition is not None else 0
        if depth <= MAX_CONDITION_DEPTH:
            return condition
        self.problem(path, "condition-too-deep", f"condition nests {depth} levels of all, any and not "
                     f"(written so, or as and, or, not); at most {MAX_CONDITION_DEPTH}",
                     "give its inner parts rules of their own, or flatten nested all: and any:")
        return None

    def condition(self, declared: Any, path: Path, scope: ex.Scope) -> Condition | None:
        """The condition tree of a `when` (or `not`) value; None where it has problems."""
        span = self.document.value_span(path)
        if isinstance(declared, bool):
            return self.node("const", span, value=declared)
        if isinstance(declared, str):
            checked, problems = ex.check_expression(declared, scope, self.locator(path))
            self.diagnostics.extend(problems)
            return self.expression(checked) if checked is not None else None
        if isinstance(declared, dict) and len(declared) == 1:
            (kind, body), = declared.items()
            if kind in ("all", "any") and isinstance(body, list) and body:
                node_id = self.reserve()
                children = [self.condition(child, path + (kind, i), scope) for i, child in enumerate(body)]
                if any(child is None for child in children):
                    return None
                return self.place(Condition(kind, node_id, span, tuple(children)))  # type: ignore[arg-type]
            if kind == "not":
                node_id = self.reserve()
                child = self.condition(body, path + ("not",), scope)
                if child is None:
                    return None
                return self.place(Condition("not", node_id, span, (child,)))
        return None  # the schema pass has reported it

    def expression(self, checked: ex.Checked) -> Condition:
        """A condition node for a checked expression; top-level and/or/not become tree nodes."""
        split = ex.split_condition(checked)
        span = checked.span or Span(self.document.file, 1, 1)
        if split is None:
            return self.node("expr", span, text=checked.text, expr=checked)
        kind, parts = split
        node_id = self.reserve()
        children = tuple(self.expression(ex.sub_checked(checked, part)) for part in parts)
        return self.place(Condition(kind, node_id, span, children, text=checked.text, expr=checked))

    def reserve(self) -> int:
        self.conditions.append(None)  # type: ignore[arg-type]
        return len(self.conditions) - 1

    def place(self, condition: Condition) -> Condition:
        self.conditions[condition.node_id] = condition
        return condition

    def node(self, kind: str, span: Span, **fields: Any) -> Condition:
        return self.place(Condition(kind, self.reserve(), span, **fields))

    def locator(self, path: Path) -> ex.Locate:
        """Maps a character offset inside the expression at `path` to its place in the file."""
        return scalar_locator(self.document, path)


class _ClassificationBuilder(DocumentBuilder):
    """Builds a `ClassificationPolicy` from a document, collecting semantic problems."""

    def build(self) -> ClassificationPolicy | None:
        data = self.data
        inputs = self.inputs(data.get("inputs"))
        scope = self.scope(inputs)
        outcomes = self.outcomes(data.get("outcomes"))
        outcome_names = [o.name for o in outcomes]
        hit = data.get("hit", "first") if data.get("hit") in ("first", "priority", "unique", "collect") else "first"
        default = self.default(data.get("default"), outcome_names)
        rules = self.rules(data.get("rules"), scope, outcome_names, hit)
        name = data.get("name")
        if not isinstance(name, str) or self.diagnostics:
            return None
        version = self.version()
        description = data.get("description") if isinstance(data.get("description"), str) else None
        return ClassificationPolicy(
            name=name,
            version=version,
            description=description,
            inputs=tuple(inputs),
            outcomes=tuple(outcomes),
            hit=hit,
            default=default,
            rules=tuple(rules),
            span=self.document.span,
            sha256=content_hash(self.data, version),
            conditions=tuple(self.conditions),
        )


    # -- outcomes and default

    def outcomes(self, declared: Any) -> list[Outcome]:
        if isinstance(declared, list):
            names = [name for name in declared if isinstance(name, str)]
            for index, name in enumerate(declared):
                if name in declared[:index]:
                    self.problem(("outcomes", index), "invalid-value", f"outcome '{name}' is listed twice")
            return [Outcome(name, None, self.document.value_span(("outcomes", i))) for i, name in enumerate(names)]
        if not isinstance(declared, dict):
            return []
        return [
            Outcome(name, text if isinstance(text, str) else None, self.document.key_span(("outcomes", name)))
            for name, text in declared.items()
        ]

    def default(self, declared: Any, outcomes: list[str]) -> DefaultOutcome | None:
        if declared is None:
            return None
        if isinstance(declared, str):
            name, because, path = declared, None, ("default",)
        elif isinstance(declared, dict) and isinstance(declared.get("outcome"), str):
            name, because, path = declared["outcome"], declared.get("because"), ("default", "outcome")
        else:
            return None
        if outcomes and name not in outcomes:
            self.problem(path, "unknown-default", f"default outcome '{name}' is not declared under 'outcomes'",
                         did_you_mean(name, outcomes) or _declared(outcomes))
        return DefaultOutcome(name, because if isinstance(because, str) else None, self.document.value_span(path))

    # -- rules

    def rules(self, declared: Any, scope: ex.Scope, outcomes: list[str], hit: str) -> list[Rule]:
        if not isinstance(declared, list):
            return []
        rules: list[Rule] = []
        first_ids: dict[str, Span] = {}
        for index, rule in enumerate(declared):
            path: Path = ("rules", index)
            if not isinstance(rule, dict):
                continue
            rule_id = rule.get("id")
            if isinstance(rule_id, str):
                if rule_id in first_ids:
                    self.problem(path + ("id",), "duplicate-rule-id", f"rule id '{rule_id}' is used twice",
                                 f"the first is at line {first_ids[rule_id].line}; rule ids must be unique")
                else:
                    first_ids[rule_id] = self.document.value_span(path + ("id",))
            outcome = rule.get("outcome")
            if isinstance(outcome, str) and outcomes and outcome not in outcomes:
                self.problem(path + ("outcome",), "unknown-outcome", f"outcome '{outcome}' is not declared under 'outcomes'",
                             did_you_mean(outcome, outcomes) or _declared(outcomes))
            priority = rule.get("priority")
            if hit == "priority" and "priority" not in rule:
                self.problem(path, "priority-missing", f"rule '{rule_id}' has no priority, but the policy's hit policy is 'priority'",
                             "give every rule a priority (a higher number wins)")
            elif hit != "priority" and "priority" in rule:
                self.problem(path + ("priority",), "priority-unexpected",
                             f"rule '{rule_id}' has a priority, but the policy's hit policy is '{hit}'",
                             "set 'hit: priority' for priorities to count, or remove them", at_key=True)
            when = self.bounded(self.condition(rule.get("when"), path + ("when",), scope), path + ("when",)) \
                if "when" in rule else None
            if when is None or not isinstance(rule_id, str) or not isinstance(outcome, str):
                continue
            rules.append(
                Rule(
                    id=rule_id,
                    index=index + 1,
                    outcome=outcome,
                    when=when,
                    span=self.document.value_span(path),
                    because=rule.get("because") if isinstance(rule.get("because"), str) else None,
                    priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else (
                        int(priority) if isinstance(priority, float) and priority.is_integer() else None
                    ),
                    description=rule.get("description") if isinstance(rule.get("description"), str) else None,
                )
            )
        return rules


def scalar_locator(document: Document, path: Path) -> ex.Locate:
    """`locate(offset, length)` for the text of the scalar at `path` in `document`."""
    node = document.node(path)
    start = node.span
    style = node.style
    value = node.raw or ""
    lines = document.lines
    written = lines[start.line - 1][start.column - 1:] if 0 < start.line <= len(lines) else ""

    def locate(offset: int, length: int) -> Span:
        single_line = start.end_line == start.line  # a span over several lines has no end
        if style is None and value and not written.rstrip().startswith(value):
            return _folded_position(lines, start, value, offset, length) or start
        if style in ("'", '"') and not single_line:
            return _folded_position(lines, start, value, offset, length, style) or start
        if style in (None, "'", '"') and single_line and "\n" not in value:
            shift = 1 if style in ("'", '"') else 0
            if style == "'":  # each ' is written ''
                shift += value[:offset].count("'")
                length += value[offset:offset + length].count("'")
            elif style == '"' and "\\" in written:
                return start  # escapes shift columns unpredictably; point at the value
            return start.shifted(shift + offset, length)
        if style in ("|", ">"):
            return _block_position(lines, start, value, style, offset, length)
        return start

    return locate


def _folded_position(lines: list[str], start: Span, value: str, offset: int, length: int,
                     quote: str | None = None) -> Span | None:
    """Where `offset` of a plain or quoted scalar written over several lines is: YAML reads
    each line break and the indentation around it as one space, and in a plain scalar ' #' as
    the start of a comment; in a single-quoted one, '' as '. None if the lines do not give the
    value that way (a blank line within it, an escape in a double-quoted one)."""

    def content(text: str) -> str:
        comment = re.search(r"\s#", text) if quote is None else None
        return (text[:comment.start()] if comment else text).strip()

    if quote == "'":  # positions in the text as written, where each ' is ''
        offset, length = offset + value[:offset].count("'"), length + value[offset:offset + length].count("'")
        value = value.replace("'", "''")
    first = lines[start.line - 1][start.column - 1 + (quote is not None):]
    parts = [(start.line, start.column + (quote is not None), first.rstrip() if quote else content(first))]
    number, read = start.line + 1, len(parts[0][2])
    while read < len(value) and number <= len(lines):
        text = lines[number - 1]
        if not content(text):
            return None
        written = content(text)
        if quote is not None and read + 1 + len(written) > len(value):  # the last line: up to the closing quote
            if not written[len(value) - read - 1:].startswith(quote):
                return None
            written = written[:len(value) - read - 1]
        parts.append((number, len(text) - len(text.lstrip()) + 1, written))
        read += 1 + len(written)
        number += 1
    if " ".join(text for _, _, text in parts) != value or (quote == '"' and "\\" in value):
        return None
    for number, column, text in parts:
        if offset <= len(text):
            return Span(start.file, number, column + offset, number, column + offset + min(length, len(text) - offset))
        offset -= len(text) + 1
    return None


def _block_position(lines: list[str], start: Span, value: str, style: str, offset: int, length: int) -> Span:
    """Where `offset` of a block scalar's value is written; the scalar's start if unsure."""
    content: list[tuple[int, int, str]] = []  # (line number, indent, text)
    number = start.line + 1
    indent = None
    while number <= len(lines):
        line = lines[number - 1]
        if line.strip():
            current = len(line) - len(line.lstrip(" "))
            if indent is None:
                indent = current
            if current < indent:
                break
            content.append((number, indent, line[indent:]))
        elif indent is not None:
            content.append((number, indent, ""))
        number += 1
    position = 0
    for line_number, line_indent, text in content:
        if offset <= position + len(text):
            column = line_indent + (offset - position) + 1
            return Span(start.file, line_number, column, line_number, column + length)
        position += len(text) + 1  # a line break, or the space YAML folds it into
    return start


# -- helpers ------------------------------------------------------------------------------------


def _declared(names: list[str]) -> str:
    return "declared outcomes: " + ", ".join(names)


def content_hash(data: Any, version: str | None) -> str:
    """sha256 of a document's canonical content: formatting, comments and key order do not count."""
    canonical = dict(data)
    if version is not None:
        canonical["version"] = version
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _depth(condition: Condition) -> int:
    """Levels of all, any and not above the deepest leaf (a leaf alone: 0)."""
    return 1 + max(map(_depth, condition.children)) if condition.children else 0
