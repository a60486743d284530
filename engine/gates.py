"""Gate stage: a checked gates policy x an item -> a gate result: pass, fail or not_applicable.

An item names the stage it is at; it asks to move to the next stage (or to the stage `--to`
or its `target` field names). If the policy's `applies_to` is not true for it, the result is
`not_applicable`. Otherwise every gate on the way is checked, criterion by criterion:
evidence (the item carries the field, not empty), conditions (three-valued, by the same
interpreter as classification, so missing data makes a condition unknown) and approvals
(the item's votes counted against a roster group's quorum). The item passes only when every
criterion is met. Moving past a stage is refused unless the policy allows skipping, and then
every gate on the way still applies. When the policy reads `outcome` and the item carries
none, the policy set's classification policy classifies it first.

Results are data (`GateResult` with one `Criterion` per check, holding the values and votes
behind it); `render.py` writes them as records and `explain.py` as explanations.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .compile import ConditionError, ConditionProgram
from .errors import ItemError, Span, UsageError, did_you_mean, listed
from .evaluate import Classifier, ConditionTrace, FieldValue, Rejection, condition_trace
from .inputs import ABSENT, CheckedItem, ValueProblem, check_item, lookup
from .model import VOTE_SPELLINGS, Approval, Condition, Gate, GatesPolicy, InputSpec, PolicyRef
from .sandbox import UNKNOWN, runtime_message, today, type_word_of

PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "not_applicable"
RESULTS = (PASS, FAIL, NOT_APPLICABLE)
MET, NOT_MET, UNKNOWN_STATUS = "met", "not_met", "unknown"


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vote:
    """One entry of an item's `approvals` list."""

    by: str
    vote: str  # "approve" | "reject" | "abstain" (however the item spelt it)
    position: int  # 1-based place in the list; a later vote of the same person replaces this one
    at: Any = None

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"by": self.by, "vote": self.vote}
        if self.at is not None:
            record["at"] = self.at
        return record


@dataclass(frozen=True, slots=True)
class Criterion:
    """One thing an item must show to pass a gate, and whether it does."""

    gate: str  # the stage the gate leads to
    gate_id: str | None  # the gate's id (None for a refused skip, which belongs to no gate)
    kind: str  # "evidence" | "condition" | "approval" | "skip"
    name: str
    status: str  # "met" | "not_met" | "unknown"
    because: str | None
    span: Span | None  # where the criterion is written in the policy

    @property
    def met(self) -> bool:
        return self.status == MET


@dataclass(frozen=True, slots=True)
class EvidenceCheck(Criterion):
    """A field the item must carry with a value that is not empty."""

    value: Any  # the value the item carries (None when missing)
    missing: bool  # the item does not carry the field (or it is null)


@dataclass(frozen=True, slots=True)
class ConditionCheck(Criterion):
    """A condition that must hold; unknown when it reads data the item does not have."""

    text: str
    trace: ConditionTrace

    @property
    def inputs(self) -> tuple[FieldValue, ...]:
        """Every input the condition read, once, in order."""
        return trace_inputs(self.trace)


@dataclass(frozen=True, slots=True)
class ApprovalCheck(Criterion):
    """Votes of a roster group counted against its quorum rule."""

    group: str
    members: tuple[str, ...]
    rule: str  # "majority" | "unanimous" | "at_least"
    needed: int
    approvers: tuple[str, ...]  # members whose counting vote is approve, in the order they voted
    rejected_by: tuple[str, ...]  # members whose counting vote is reject
    vetoed_by: tuple[str, ...]  # veto members among them: any one fails the approval
    ignored: tuple[Vote, ...]  # votes by people outside the group
    superseded: tuple[Vote, ...]  # earlier votes of members who voted again
    missing: bool  # the item carries no `approvals` at all
    abstained: tuple[str, ...] = ()  # members whose counting vote is abstain

    @property
    def approved(self) -> int:
        return len(self.approvers)

    @property
    def not_voted(self) -> tuple[str, ...]:
        voted = set(self.approvers) | set(self.rejected_by) | set(self.abstained)
        return tuple(member for member in self.members if member not in voted)


@dataclass(frozen=True, slots=True)
class SkipCheck(Criterion):
    """A move past one or more stages, which the policy does not allow."""

    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutcomeUsed:
    """The classification `applies_to` and conditions saw: carried by the item, or classified."""

    outcome: Any
    rule: Any
    source: str  # "item" | "classification"
    policy: PolicyRef | None = None  # the classification policy, when it classified the item

    def as_record(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "rule": self.rule, "from": self.source,
                "policy": self.policy.as_record() if self.policy is not None else None}


@dataclass(frozen=True, slots=True)
class GateResult:
    """The result of one item at the gates: pass, fail or not_applicable, and every criterion."""

    item_id: Any
    stage: str
    target: str
    result: str  # "pass" | "fail" | "not_applicable"
    criteria: tuple[Criterion, ...]
    applies_to: ConditionTrace | None  # the trace of the policy's applies_to, if it has one
    outcome: OutcomeUsed | None
    gates_policy: GatesPolicy = field(repr=False)
    line: int | None = None
    ref: PolicyRef | None = field(default=None, repr=False)  # the policy as of the run's date

    @property
    def policy(self) -> PolicyRef:
        return self.ref if self.ref is not None else self.gates_policy.ref

    @property
    def passed(self) -> bool:
        return self.result == PASS

    @property
    def held_by(self) -> tuple[Criterion, ...]:
        """The criteria that hold the item back: not met, or unknown."""
        return tuple(criterion for criterion in self.criteria if not criterion.met)

    @property
    def gates(self) -> tuple[Gate, ...]:
        """The gates the item was checked against, in order."""
        if self.result == NOT_APPLICABLE or any(c.kind == "skip" for c in self.criteria):
            return ()
        return self.gates_policy.gates_between(self.stage, self.target)

    def explain(self, format: str = "text") -> str:
        """The result in plain language (`text`), as `markdown`, or as `json`."""
        from .explain_gates import explain_gate

        return explain_gate(self, format)

    def __repr__(self) -> str:
        return f"GateResult(id={self.item_id!r}, {self.stage!r} -> {self.target!r}: {self.result})"


# -- the gate keeper ------------------------------------------------------------------------------


class Gater:
    """A gates policy made executable: checks items at their gates, one result per item."""

    def __init__(self, policy: GatesPolicy, classifier: Classifier | None = None, to: str | None = None,
                 as_of: _dt.date | None = None):
        self.policy = policy
        # the date days_since() counts to: the classifier's, so both parts of a result agree
        self.as_of = classifier.as_of if classifier is not None else as_of or today()
        self.ref = policy.ref_as_of(self.as_of)
        self.to = self.stage(to) if to is not None else None
        self.program = ConditionProgram(policy.conditions, self.as_of)
        self.slots = len(policy.conditions)
        self.specs = policy.inputs + policy.implicit
        # classify only for a policy that reads the outcome: others never need it
        self.classifier = classifier if "outcome" in policy.reads else None
        declared = {spec.name for spec in self.specs}
        extra = tuple(s for s in self.classifier.policy.inputs if s.name not in declared) if self.classifier else ()
        self.inputs: tuple[InputSpec, ...] = self.specs + extra  # CSV cells are read as these types

    def stage(self, name: str) -> str:
        """`name` if it is one of the policy's stages; a usage error otherwise."""
        if name not in self.policy.stages:
            hint = did_you_mean(name, self.policy.stages)
            raise UsageError(f"'{name}' is not a stage of '{self.policy.name}' (stages: {', '.join(self.policy.stages)})"
                             + (f"; {hint}" if hint else ""))
        return name

    # -- as a decider for the stream (see stream.py)

    def result_for(self, item: Any, line: int, id_field: str, trace: bool) -> GateResult | Rejection:
        """The result for one item of a stream, or its rejection."""
        try:
            return self.gate(item, line=line, id_field=id_field)
        except ItemError as error:
            return Rejection(error.item_id, line, error.message, self.ref)

    def record(self, result: GateResult | Rejection, trace: bool) -> dict[str, Any]:
        from .render import gate_record

        return gate_record(result, trace)

    def label(self, result: GateResult | Rejection) -> str | None:
        return None if isinstance(result, Rejection) else result.result

    def jsonl_lane(self, id_field: str, careful_line: Any, trace: bool = False) -> None:
        """Gates have no separate fast lane: every item takes the general path."""
        return None

    # -- checking

    def gate_all(self, items: Iterable[Any], *, to: str | None = None, id_field: str = "id") -> Iterator[GateResult | Rejection]:
        """One result or rejection per item, in order; never stops at a bad item."""
        for number, item in enumerate(items, start=1):
            try:
                yield self.gate(item, to=to, line=number, id_field=id_field)
            except ItemError as error:
                yield Rejection(error.item_id, number, error.message, self.ref)

    def gate(self, item: Any, *, to: str | None = None, line: int | None = None, id_field: str = "id") -> GateResult:
        """The result for `item`, moving to `to` (default: `--to`, the item's `target`, or the
        next stage); raises `ItemError` for an item that cannot be checked."""
        item_id = item.get(id_field) if isinstance(item, dict) else None
        try:
            return self._gate(item, item_id, self.stage(to) if to is not None else self.to, line)
        except ItemError as error:
            error.item_id, error.line = item_id, line
            raise

    def _gate(self, item: Any, item_id: Any, to: str | None, line: int | None) -> GateResult:
        if not isinstance(item, dict):
            raise ItemError(f"an item must be a mapping of fields (a JSON object), not {type_word_of(item)}")
        upstream = _rejected_upstream(item)
        if upstream is not None:
            raise ItemError(upstream)
        item, outcome = self.classified(item)
        try:
            checked = check_item(item, self.specs)
        except ValueProblem as problem:
            raise ItemError(str(problem)) from None
        stages = self.policy.stages
        stage = checked.values["stage"]
        target = self.target(stage, to or checked.values.get("target"))
        nodes: list[Any] = [None] * self.slots
        applies_to = None
        if self.policy.applies_to is not None:
            value = self.evaluate(self.policy.applies_to, checked, nodes, "applies_to")
            applies_to = condition_trace(self.policy.applies_to, nodes, checked)
            if value is not True:
                return GateResult(item_id, stage, target, NOT_APPLICABLE, (), applies_to, outcome, self.policy, line, self.ref)
        skipped = stages[stages.index(stage) + 1:stages.index(target)]
        if skipped and not self.policy.allow_skip:
            refusal = SkipCheck(
                target, None, "skip", "skip", NOT_MET,
                f"The policy does not let items move past a stage; {listed(skipped)} must be passed first.",
                None, tuple(skipped))
            return GateResult(item_id, stage, target, FAIL, (refusal,), applies_to, outcome, self.policy, line, self.ref)
        votes = _votes(lookup(item, ("approvals",)))
        criteria: list[Criterion] = []
        for gate in self.policy.gates_between(stage, target):
            criteria.extend(self.evidence(gate, item))
            criteria.extend(self.conditions(gate, checked, nodes))
            criteria.extend(_approval(gate, approval, votes) for approval in gate.approvals)
        result = PASS if all(criterion.met for criterion in criteria) else FAIL
        return GateResult(item_id, stage, target, result, tuple(criteria), applies_to, outcome, self.policy, line, self.ref)

    def classified(self, item: dict[str, Any]) -> tuple[dict[str, Any], OutcomeUsed | None]:
        """The item with its outcome (classified when it carries none and the policy reads it)."""
        if item.get("outcome") is not None:
            rule = item.get("rule")
            return item, OutcomeUsed(item["outcome"], rule if isinstance(rule, str) else None, "item")
        if self.classifier is None:
            return item, None
        try:
            verdict = self.classifier.decide(item)
        except ItemError as error:
            raise ItemError(f"cannot classify the item with '{self.classifier.policy.name}': {error.message}") from None
        if verdict.collect:
            raise ItemError(f"'{self.classifier.policy.name}' gives several outcomes (hit: collect); gates read one outcome")
        used = OutcomeUsed(verdict.outcome, verdict.rule, "classification", self.classifier.ref)
        return {**item, "outcome": verdict.outcome}, used

    def target(self, stage: str, to: str | None) -> str:
        stages = self.policy.stages
        index = stages.index(stage)
        if to is None:
            if index == len(stages) - 1:
                raise ItemError(f"the item is at '{stage}', the last stage; there is no stage to move to")
            return stages[index + 1]
        if to == stage:
            raise ItemError(f"the item is already at '{to}'; name a later stage to move to")
        if stages.index(to) < index:
            raise ItemError(f"the item is at '{stage}', past '{to}'; gates lead forward, to a later stage")
        return to

    def evaluate(self, condition: Condition, checked: CheckedItem, nodes: list[Any], where: str) -> Any:
        try:
            return self.program.evaluate(condition, checked.values, checked.present, nodes)
        except ConditionError as failure:
            text = failure.condition.as_expression()
            raise ItemError(f"{where}: {runtime_message(failure.error)} in '{text}'") from None

    def evidence(self, gate: Gate, item: dict[str, Any]) -> Iterator[EvidenceCheck]:
        for evidence in gate.require:
            value = lookup(item, evidence.path)
            missing = value is ABSENT
            status = NOT_MET if missing or _empty(value) else MET
            yield EvidenceCheck(gate.to_stage, gate.id, "evidence", evidence.field, status, evidence.because or gate.because,
                                evidence.span, None if missing else value, missing)

    def conditions(self, gate: Gate, checked: CheckedItem, nodes: list[Any]) -> Iterator[ConditionCheck]:
        for condition in gate.conditions:
            value = self.evaluate(condition.when, checked, nodes, f"gate '{gate.id}'")
            status = MET if value is True else UNKNOWN_STATUS if value is UNKNOWN else NOT_MET
            yield ConditionCheck(gate.to_stage, gate.id, "condition", condition.name, status, condition.because or gate.because,
                                 condition.span, condition.when.as_expression(), condition_trace(condition.when, nodes, checked))


def trace_inputs(trace: ConditionTrace) -> tuple[FieldValue, ...]:
    """Every input a condition tree read, once, in order."""
    found: dict[str, FieldValue] = {}
    for node in trace.walk():
        for read in node.inputs:
            found.setdefault(read.name, read)
    return tuple(found.values())


def _approval(gate: Gate, approval: Approval, votes: tuple[Vote, ...] | None) -> ApprovalCheck:
    """Count the votes of the approval's group: only members count, and each member's last vote."""
    members = set(approval.members)
    counting: dict[str, Vote] = {}
    ignored: list[Vote] = []
    superseded: list[Vote] = []
    for vote in votes or ():
        if vote.by not in members:
            ignored.append(vote)
            continue
        if vote.by in counting:
            superseded.append(counting.pop(vote.by))
        counting[vote.by] = vote
    final = sorted(counting.values(), key=lambda vote: vote.position)
    approvers = tuple(vote.by for vote in final if vote.vote == "approve")
    rejected_by = tuple(vote.by for vote in final if vote.vote == "reject")
    vetoed_by = tuple(member for member in rejected_by if member in approval.veto)
    status = MET if len(approvers) >= approval.needed and not vetoed_by else NOT_MET
    return ApprovalCheck(
        gate.to_stage, gate.id, "approval", approval.name, status, approval.because or gate.because, approval.span,
        approval.group, approval.members, approval.rule, approval.needed, approvers, rejected_by, vetoed_by,
        tuple(ignored), tuple(sorted(superseded, key=lambda vote: vote.position)), votes is None,
        tuple(vote.by for vote in final if vote.vote == "abstain"),
    )


_ERROR_RECORD = {"id", "line", "error", "policy"}


def _rejected_upstream(item: dict[str, Any]) -> str | None:
    """What an error record says, where `item` is one (`classify --annotate` passes them on in a
    pipe), so that the gates repeat the problem instead of finding the record's fields lacking."""
    policy = item.get("policy")
    if not (item.keys() <= _ERROR_RECORD and isinstance(item.get("error"), str) and isinstance(policy, dict)):
        return None
    line, name = item.get("line"), policy.get("name")
    where = f" (line {line} of its input)" if isinstance(line, int) and not isinstance(line, bool) else ""
    return f"{repr(name) if isinstance(name, str) else 'the policy before'} rejected it{where}: {item['error']}"


def _votes(raw: Any) -> tuple[Vote, ...] | None:
    """The item's votes, or None when it carries no `approvals`; raises `ItemError` for a malformed one
    (the item check has made sure it is a list)."""
    if raw is ABSENT:
        return None
    votes: list[Vote] = []
    for position, entry in enumerate(raw, start=1):
        where = f"'approvals' item {position}"
        if not isinstance(entry, dict):
            raise ItemError(f"{where} must be a mapping such as {{\"by\": \"cfo\", \"vote\": \"approve\"}}, not {type_word_of(entry)}")
        by, written = entry.get("by"), entry.get("vote")
        if not isinstance(by, str) or not by.strip():
            raise ItemError(f"{where} must name who voted in 'by'")
        vote = VOTE_SPELLINGS.get(written.strip().lower()) if isinstance(written, str) else None
        if vote is None:
            hint = did_you_mean(written, VOTE_SPELLINGS) if isinstance(written, str) else \
                "YAML reads an unquoted yes or no as true or false: write 'yes' or 'no' in quotes" \
                if isinstance(written, bool) else None
            shown = f"'{written}'" if isinstance(written, str) else type_word_of(written) if written is not None else "missing"
            raise ItemError(f"{where}: 'vote' must be 'approve', 'reject' or 'abstain', not {shown}"
                            + (f" ({hint})" if hint else ""))
        votes.append(Vote(by, vote, position, entry.get("at")))
    return tuple(votes)


def _empty(value: Any) -> bool:
    """Evidence that is there but says nothing: blank text, an empty list or mapping."""
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, dict)):
        return not value
    return False
