"""The nouns of a policy, as frozen data passed between stages.

`validate.py` builds these from checked documents; `compile.py` makes them executable;
`evaluate.py` produces decisions and traces that refer back to them, so an explanation can
always name the rule, its source line and the exact condition text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Span

INPUT_TYPES = ("string", "integer", "number", "boolean", "array", "object", "date", "datetime")
HIT_POLICIES = ("first", "priority", "unique", "collect")


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A declared input field, with the rules an item's value must follow."""

    name: str  # as declared, dots for nested fields: "service.criticality"
    type: str
    span: Span
    enum: tuple[Any, ...] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    default: Any = None  # already in the input's type (dates parsed)
    has_default: bool = False
    required: bool = False
    description: str | None = None
    items: InputSpec | None = None  # what each element of an array is

    @property
    def path(self) -> tuple[str, ...]:
        """Where the value sits in an item: `service.criticality` is item["service"]["criticality"]."""
        return tuple(self.name.split("."))


@dataclass(frozen=True, slots=True)
class Condition:
    """A node of a `when` tree: `all` / `any` / `not` over children, or one expression."""

    kind: str  # "all" | "any" | "not" | "expr" | "const"
    node_id: int  # position in the policy's list of condition nodes (trace slots)
    span: Span
    children: tuple[Condition, ...] = ()
    text: str | None = None  # the expression as written, for "expr"
    expr: Any = field(default=None, compare=False, repr=False)  # expressions.Checked, for "expr"
    value: bool | None = None  # for "const" (`when: true`)

    def walk(self) -> list[Condition]:
        """This node and every node below it, depth first."""
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes

    @property
    def reads(self) -> tuple[str, ...]:
        """The inputs whose values this condition reads, in order."""
        seen: list[str] = []
        for node in self.walk():
            if node.expr is not None:
                for name in node.expr.reads:
                    if name not in seen:
                        seen.append(name)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Rule:
    """One classification rule."""

    id: str
    index: int  # 1-based position in the policy
    outcome: str
    when: Condition
    span: Span
    because: str | None = None
    priority: int | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    description: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class DefaultOutcome:
    outcome: str
    because: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """How a decision names the policy that made it."""

    name: str
    version: str | None
    sha256: str

    def as_record(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class ClassificationPolicy:
    """A validated classification policy."""

    name: str
    version: str | None
    description: str | None
    inputs: tuple[InputSpec, ...]
    outcomes: tuple[Outcome, ...]
    hit: str
    default: DefaultOutcome | None
    rules: tuple[Rule, ...]
    span: Span
    sha256: str
    conditions: tuple[Condition, ...]  # every condition node, indexed by node_id

    @property
    def file(self) -> str:
        return self.span.file

    @property
    def ref(self) -> PolicyRef:
        return PolicyRef(self.name, self.version, self.sha256)

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    @property
    def outcome_names(self) -> tuple[str, ...]:
        return tuple(outcome.name for outcome in self.outcomes)
