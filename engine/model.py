"""The nouns of a policy, as frozen data passed between stages.

`validate.py` builds these from checked documents; `compile.py` makes them executable;
`evaluate.py` produces decisions and traces that refer back to them, so an explanation can
always name the rule, its source line and the exact condition text.
"""

from __future__ import annotations

import datetime as _dt
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

    def as_expression(self) -> str:
        """The condition as one expression: its text, or its tree written with and / or / not."""
        if self.text is not None:
            return self.text
        if self.kind == "const":
            return "true" if self.value else "false"
        if self.kind == "not":
            return f"not ({self.children[0].as_expression()})"
        joiner = " and " if self.kind == "all" else " or "
        # an and / or inside the other needs brackets; a `not (...)` or a comparison does not
        return joiner.join(
            f"({child.as_expression()})" if child.kind in ("all", "any") or _has_boolean(child.text) else child.as_expression()
            for child in self.children
        )

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


def _has_boolean(text: str | None) -> bool:
    return text is not None and (" and " in text or " or " in text)


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
    """How a decision names the policy that made it; with the as-of date days_since() counted
    to, where the policy calls it (the decision then depends on that date too)."""

    name: str
    version: str | None
    sha256: str
    as_of: _dt.date | None = None

    def as_record(self) -> dict[str, Any]:
        record = {"name": self.name, "version": self.version, "sha256": self.sha256}
        if self.as_of is not None:
            record["as_of"] = self.as_of.isoformat()
        return record

    def title(self) -> str:
        """How an explanation names it: `demand-intake 2026.11 (sha256 ..., as of 2026-12-02)`."""
        version = f" {self.version}" if self.version else ""
        as_of = f", as of {self.as_of.isoformat()}" if self.as_of is not None else ""
        return f"{self.name}{version} (sha256 {self.sha256}{as_of})"


class _PolicyDocument:
    """What every kind of policy has: a name, a version, a content hash and a place."""

    __slots__ = ()
    name: str
    version: str | None
    sha256: str
    span: Span

    @property
    def file(self) -> str:
        return self.span.file

    @property
    def ref(self) -> PolicyRef:
        return PolicyRef(self.name, self.version, self.sha256)

    @property
    def reads_as_of(self) -> bool:
        """Whether a condition calls days_since(), so decisions depend on the run's as-of date."""
        from .expressions import reads_as_of

        conditions: tuple[Condition, ...] = self.conditions  # type: ignore[attr-defined]
        return any(condition.expr is not None and reads_as_of(condition.expr) for condition in conditions)

    def ref_as_of(self, as_of: _dt.date) -> PolicyRef:
        """How a decision made as of `as_of` names the policy: with the date where it matters."""
        return PolicyRef(self.name, self.version, self.sha256, as_of if self.reads_as_of else None)


@dataclass(frozen=True, slots=True)
class ClassificationPolicy(_PolicyDocument):
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


# -- stage gates ----------------------------------------------------------------------------------

# fields every item of a gates policy may carry without the policy declaring them
IMPLICIT_FIELDS = ("stage", "target", "outcome", "approvals")
QUORUM_RULES = ("majority", "unanimous", "at_least")
VOTES = ("approve", "reject", "abstain")
# how items may write a vote (compared without regard to case): each spelling and what it means
VOTE_SPELLINGS = {
    **{word: "approve" for word in ("approve", "approved", "approves", "yes", "for", "accept", "accepted")},
    **{word: "reject" for word in ("reject", "rejected", "rejects", "no", "against", "deny", "denied")},
    **{word: "abstain" for word in ("abstain", "abstained", "abstains", "abstention")},
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """A field an item must carry, with a value that is not empty, to pass a gate."""

    field: str  # dots for nested fields, as inputs
    span: Span
    because: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


@dataclass(frozen=True, slots=True)
class GateCondition:
    """A condition that must hold for an item to pass a gate."""

    name: str  # its id, else the condition written as one expression
    when: Condition
    span: Span
    because: str | None = None


@dataclass(frozen=True, slots=True)
class Approval:
    """Approval by a roster group: how many of its members must approve, and who may veto."""

    name: str  # its id, else the group's name
    group: str
    members: tuple[str, ...]
    rule: str  # one of QUORUM_RULES
    needed: int  # approvals needed: more than half, all, or N
    span: Span
    veto: tuple[str, ...] = ()
    because: str | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """The entry criteria for moving from one stage to another."""

    id: str
    from_stage: str
    to_stage: str
    span: Span
    require: tuple[Evidence, ...] = ()
    conditions: tuple[GateCondition, ...] = ()
    approvals: tuple[Approval, ...] = ()
    because: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class GatesPolicy(_PolicyDocument):
    """A validated stage-gate policy."""

    name: str
    version: str | None
    description: str | None
    stages: tuple[str, ...]
    applies_to: Condition | None
    inputs: tuple[InputSpec, ...]  # as declared
    implicit: tuple[InputSpec, ...]  # stage, target, outcome, approvals (see IMPLICIT_FIELDS)
    roster: tuple[tuple[str, tuple[str, ...]], ...]  # (group, members), in file order
    allow_skip: bool
    gates: tuple[Gate, ...]  # ordered by the stage they lead to, then the stage they lead from
    span: Span
    sha256: str
    conditions: tuple[Condition, ...]  # every condition node, indexed by node_id
    group_spans: tuple[Span, ...] = ()  # where each roster group is declared, in the roster's order

    @property
    def reads(self) -> frozenset[str]:
        """Every field the policy's conditions read or test with has()."""
        names: set[str] = set()
        for condition in self.conditions:
            if condition.expr is not None:
                names.update(condition.expr.reads, condition.expr.presence)
        return frozenset(names)

    def stage_index(self, stage: str) -> int:
        return self.stages.index(stage)

    def gates_between(self, start: str, end: str) -> tuple[Gate, ...]:
        """The gates an item passes moving from stage `start` to stage `end`: every gate that
        leads from a stage at or after `start` to a stage at or before `end`."""
        low, high = self.stages.index(start), self.stages.index(end)
        return tuple(
            gate for gate in self.gates
            if self.stages.index(gate.from_stage) >= low and self.stages.index(gate.to_stage) <= high
        )

    def group(self, name: str) -> tuple[str, ...] | None:
        for group, members in self.roster:
            if group == name:
                return members
        return None
