"""Explain stage, stage gates: a gate result -> plain text, markdown, or JSON.

Written for two readers. First, for the initiative's sponsor: what holds the item back and
what would unblock it. Then, for the auditor: the outcome the gates read and why they apply,
every gate checked with its source line, and every criterion with the values and votes
behind it, and the policy's name, version and content hash. The JSON form is the gate
record with its trace, as `gate --explain` writes it. Condition trees are laid out exactly
as in classification explanations (the writer extends the same one).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import listed
from .evaluate import ConditionTrace, FieldValue
from .explain import (
    _condition_record,
    _field_record,
    _json_default,
    _show,
    _Writer,
    unknown_format,
)
from .gates import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    ApprovalCheck,
    ConditionCheck,
    Criterion,
    EvidenceCheck,
    GateResult,
    SkipCheck,
    Vote,
    trace_inputs,
)
from .model import Gate
from .render import markdown_code

_STATUS_WORDS = {"met": "met", "not_met": "not met", "unknown": "unknown"}
_RULE_NEEDS = {"majority": "a majority needs {n}", "unanimous": "all {n} must approve", "at_least": "at least {n} must approve"}


def explain_gate(result: GateResult, fmt: str = "text") -> str:
    """The explanation of a gate result in format `fmt` ("text", "markdown" or "json")."""
    if fmt == "json":
        return json.dumps(gate_explanation_record(result), indent=2, ensure_ascii=False, default=_json_default) + "\n"
    if fmt in ("text", "markdown"):
        return _GateWriter(result, markdown=fmt == "markdown").render()
    raise unknown_format(fmt)


def gate_explanation_record(result: GateResult) -> dict[str, Any]:
    """The gate result's record with its trace, as JSON-ready data."""
    from .render import gate_record

    return gate_record(result, explain=True)


def gate_trace_record(result: GateResult) -> dict[str, Any]:
    """The trace of a gate result as JSON-ready data (the `trace` of a `gate --explain` record):
    the `applies_to` condition and every condition of every gate checked, node by node."""
    applies_to = _condition_record(result.applies_to) if result.applies_to is not None else None
    gates = []
    for gate in result.gates:
        conditions = [c for c in result.criteria if isinstance(c, ConditionCheck) and c.gate_id == gate.id]
        gates.append({
            "gate": gate.id,
            "from": gate.from_stage,
            "to": gate.to_stage,
            "source": gate.span.short,
            "conditions": [{"name": c.name, "status": c.status, "condition": _condition_record(c.trace)} for c in conditions],
        })
    return {"applies_to": applies_to, "gates": gates}


def trace_inputs_record(trace: ConditionTrace) -> list[dict[str, Any]]:
    """Every input a condition tree read, once each, as JSON-ready data."""
    return [_field_record(field) for field in trace_inputs(trace)]


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names)


class _GateWriter(_Writer):
    """Lays out a gate result: first what holds the item back and what would unblock it (for
    the sponsor), then every criterion with the values and votes behind it (for the auditor)."""

    def __init__(self, result: GateResult, markdown: bool):
        self.result = result
        self.markdown = markdown
        self.lines: list[str] = []
        self.as_of = result.policy.as_of

    def render(self) -> str:
        result = self.result
        item = f"Item {self.text(_show(result.item_id))}" if result.item_id is not None else "The item"
        stage, target = self.name(result.stage), self.name(result.target)
        if result.result == PASS:
            self.heading(f"{item}: ready to move from {stage} to {target}")
        elif result.result == FAIL:
            self.heading(f"{item}: held at {stage}, not ready for {target}")
        else:
            self.heading(f"{item}: the gates do not apply (at {stage})")
        self.summary()
        self.context()
        for criterion in result.criteria:
            if isinstance(criterion, SkipCheck):
                self.title(f"Moving from {stage} to {target}")
                self.criterion(criterion, 1)
                self.line("")
        for gate in result.gates:
            self.gate(gate)
        self.line(f"Policy: {result.policy.title()}, {result.gates_policy.file}")
        return "\n".join(self.lines).rstrip() + "\n"

    # -- for the sponsor: what holds the item back, what would unblock it

    def summary(self) -> None:
        result = self.result
        if result.result == NOT_APPLICABLE:
            applies = result.applies_to
            assert applies is not None
            verdict = "is false" if applies.result == "false" else "cannot be decided"
            self.line(f"{self.name(result.policy.name)} applies only to items for which "
                      f"{self.expr(applies.condition.as_expression())} holds; for this item it {verdict}"
                      f"{self.values(trace_inputs(applies), inline=True, condition=applies.condition)}, so no gate is checked.")
            self.line("")
            return
        if result.result == PASS:
            if len(result.criteria) == 1:
                self.line(f"The one criterion for moving to {self.name(result.target)} is met.")
            elif result.criteria:
                self.line(f"All {len(result.criteria)} criteria for moving to {self.name(result.target)} are met.")
            else:
                self.line(f"No gate leads to {self.name(result.target)}, so the move needs nothing.")
            self.line("")
            return
        holds, unblocks = self.advice(result.held_by)
        for title, sentences in (("What holds it back", holds), ("What would unblock it", unblocks)):
            self.title(title + ":")
            for sentence in sentences:
                self.line(f"{self.indent(1)}- {sentence}")
            self.line("")

    def advice(self, held: tuple[Criterion, ...]) -> tuple[list[str], list[str]]:
        """What holds the item back, and what would unblock it: one or more sentences each."""
        holds: list[str] = []
        unblocks: list[str] = []
        # a veto member voting again to approve counts in every approval whose group they are in
        revoting = {member for c in held if isinstance(c, ApprovalCheck) for member in c.vetoed_by}
        missing = [c.name for c in held if isinstance(c, EvidenceCheck) and c.missing]
        empty = [c.name for c in held if isinstance(c, EvidenceCheck) and not c.missing]
        for criterion in held:
            if isinstance(criterion, SkipCheck):
                holds.append(f"Moving from {self.name(self.result.stage)} to {self.name(self.result.target)} would skip "
                             f"{self.stages(criterion.skipped)}; the policy does not allow skipping stages.")
                unblocks.append(f"Pass the gate to {self.name(criterion.skipped[0])} first; stages are passed one at a time.")
            elif isinstance(criterion, ApprovalCheck):
                holds.append(self.approval_summary(criterion))
                unblocks.extend(self.approval_unblock(criterion, revoting))
            elif isinstance(criterion, ConditionCheck) and criterion.status == "unknown":
                absent = [f.name for f in criterion.inputs if f.source == "missing"]
                holds.append(f"Condition {self.condition_name(criterion)} cannot be decided: "
                             f"{self.names(absent)} {'is' if len(absent) == 1 else 'are'} missing.")
                unblocks.append(f"Add {self.names(absent)} to the item, so that {self.condition_name(criterion)} can be checked.")
            elif isinstance(criterion, ConditionCheck):
                text = f": {self.expr(criterion.text)}" if criterion.name != criterion.text else ""
                holds.append(f"Condition {self.condition_name(criterion)} is not met{text}"
                             f"{self.values(criterion.inputs, inline=True, condition=criterion.trace.condition)}.")
                unblocks.append(f"Meet {self.condition_name(criterion)}{text}.")
            elif isinstance(criterion, EvidenceCheck) and criterion.name == (missing or empty)[0]:
                # all evidence in one sentence each, where the first of it stands
                if missing:
                    holds.append(f"Missing evidence: {self.names(missing)}.")
                if empty:
                    holds.append(f"Empty evidence: {self.names(empty)} {'is' if len(empty) == 1 else 'are'} there but blank.")
                unblocks.append(f"Provide {self.names(missing + empty)}.")
        roster = {member for _, members in self.result.gates_policy.roster for member in members}
        strangers = list(dict.fromkeys(vote.by for check in held if isinstance(check, ApprovalCheck)
                                       for vote in check.ignored if vote.by not in roster))
        if strangers:
            one = len(strangers) == 1
            holds.append(f"Not counted: the {'vote' if one else 'votes'} of {self.names(strangers)}, who "
                         f"{'is' if one else 'are'} not on the roster.")
        return holds, unblocks

    def approval_summary(self, check: ApprovalCheck) -> str:
        group = self.name(check.group)
        which = f"by {group}" if check.name == check.group else f"{self.name(check.name)} by {group}"
        if check.vetoed_by:
            return (f"Approval {which} is vetoed: {self.names(check.vetoed_by)} rejected, and a reject from a veto "
                    "member fails the approval whatever the count.")
        needs = _RULE_NEEDS[check.rule].format(n=check.needed)
        if check.missing:
            return f"Approval {which}: no votes yet (the item has no approvals); {needs} of its {len(check.members)} members."
        return f"Approval {which}: {check.approved} of {len(check.members)} members approved; {needs}."

    def approval_unblock(self, check: ApprovalCheck, revoting: set[str]) -> list[str]:
        """What would meet `check`, given that the veto members in `revoting` are asked to
        vote again and approve."""
        sentences = []
        for member in check.vetoed_by:
            sentences.append(f"{self.name(member)} to vote again and approve: a veto member's reject stands until "
                             "they vote again (the last vote counts).")
        turning = [m for m in check.rejected_by if m in revoting]
        short = check.needed - check.approved - len(turning)
        if short > 0:
            waiting = check.not_voted
            votes = f"{short} more {'approval' if short == 1 else 'approvals'} from {self.name(check.group)}"
            if short <= len(waiting):
                sentences.append(f"{votes} (not yet voted: {_names(waiting)}).")
            else:
                # an abstention may become an approval as a reject may
                others = [m for m in (*check.abstained, *check.rejected_by) if m not in revoting]
                who = "abstained or rejected" if check.abstained else "rejected"
                sentences.append(f"{votes}: everyone who has not voted{f' ({_names(waiting)})' if waiting else ''} "
                                 f"and {short - len(waiting)} of those who {who} ({_names(others)}) changing their vote.")
        return sentences

    # -- for the auditor: the classification, applies_to, every criterion

    def context(self) -> None:
        """The outcome the gates saw and why they apply: one paragraph (one per line in markdown)."""
        result = self.result
        outcome = result.outcome
        lines = []
        if outcome is not None:
            if outcome.source == "classification" and outcome.policy is not None:
                policy = outcome.policy
                rule = f"rule {self.name(outcome.rule)}" if outcome.rule is not None else "the default"
                lines.append(f"Outcome: {self.name(outcome.outcome)}, classified by {rule} of {policy.title()}.")
            else:
                rule = f", rule {self.name(outcome.rule)}" if outcome.rule is not None else ""
                lines.append(f"Outcome: {self.name(outcome.outcome)} (carried by the item{rule}).")
        if result.applies_to is not None and result.result != NOT_APPLICABLE:
            applies = result.applies_to
            lines.append(f"The gates apply: {self.expr(applies.condition.as_expression())} holds"
                         f"{self.values(trace_inputs(applies), inline=True, condition=applies.condition)}.")
        for line in lines:
            self.line(line)
            if self.markdown:
                self.line("")
        if lines and not self.markdown:
            self.line("")

    def gate(self, gate: Gate) -> None:
        named = "" if gate.id == f"{gate.from_stage}->{gate.to_stage}" else f" {self.name(gate.id)}"
        self.title(f"Gate{named} from {self.name(gate.from_stage)} to {self.name(gate.to_stage)} ({gate.span.short})")
        if gate.because:
            self.line(f"{self.indent(1)}Because: {gate.because}")
        for criterion in self.result.criteria:
            if criterion.gate_id == gate.id:
                self.criterion(criterion, 1, gate.because)
        self.line("")

    def criterion(self, criterion: Criterion, depth: int, gate_because: str | None = None) -> None:
        word = _STATUS_WORDS[criterion.status] + ":"
        label = f"**{word}**" if self.markdown else f"{word:<9}"
        where = f" ({criterion.span.short})" if criterion.span is not None else ""
        named = "" if isinstance(criterion, ConditionCheck) and criterion.name == criterion.text else f" {self.name(criterion.name)}"
        head = f"{self.indent(depth)}- {label} {criterion.kind}{named}{where}"
        below = self.indent(depth + 1) + ("- " if self.markdown else "  ")
        if isinstance(criterion, EvidenceCheck):
            shown = "missing" if criterion.missing else \
                ("empty " if _empty_value(criterion.value) else "") + self.text(_clip(_show(criterion.value)))
            self.line(f"{head}: {shown}")
        elif isinstance(criterion, ConditionCheck):
            root = criterion.trace
            if root.condition.kind == "expr":
                self.line(f"{head}: {self.expr(criterion.text)}{self.values(criterion.inputs, condition=root.condition)}")
            else:
                self.line(f"{head}:")
                self.condition(root, depth + 2)
        elif isinstance(criterion, ApprovalCheck):
            rule = {"majority": "majority", "unanimous": "unanimous", "at_least": f"at least {criterion.needed}"}[criterion.rule]
            self.line(f"{head}: {rule} of {self.name(criterion.group)} ({len(criterion.members)} members), "
                      f"needs {criterion.needed}; {criterion.approved} approved")
            self.votes(criterion, below)
        elif isinstance(criterion, SkipCheck):
            self.line(f"{self.indent(depth)}- {label} no skipping: the move would pass {self.stages(criterion.skipped)}")
        if criterion.because and criterion.because != gate_because:
            self.line(f"{below}Because: {criterion.because}")

    def votes(self, check: ApprovalCheck, below: str) -> None:
        if check.missing:
            self.line(f"{below}no votes: the item has no approvals")
            return
        for label, members in (("approved", check.approvers), ("rejected", check.rejected_by),
                               ("abstained", check.abstained), ("vetoed by", check.vetoed_by),
                               ("not voted", check.not_voted)):
            if members:
                self.line(f"{below}{label}: {_names(members)}")
        if check.ignored:
            shown = ", ".join(self.vote(vote) for vote in check.ignored)
            self.line(f"{below}not counted, not members of {self.name(check.group)}: {shown}")
        if check.superseded:
            shown = ", ".join(self.vote(vote) for vote in check.superseded)
            self.line(f"{below}replaced by a later vote of the same member: {shown}")

    def vote(self, vote: Vote) -> str:
        at = f", {vote.at}" if vote.at is not None else ""
        return self.text(f"{vote.by} ({vote.vote}{at})")

    def condition_name(self, check: ConditionCheck) -> str:
        """A condition by its id, or by its text when it has none."""
        return self.expr(check.text) if check.name == check.text else self.name(check.name)

    def values(self, fields: tuple[FieldValue, ...], inline: bool = False, condition: Any = None) -> str:
        shown = self.shown(fields, condition)
        if not shown:
            return ""
        return (" (" if inline else "   (") + "; ".join(shown) + ")"

    def names(self, names: tuple[str, ...] | list[str]) -> str:
        """Field and member names for a sentence: plain in text, as code in markdown."""
        shown = [markdown_code(name) if self.markdown else name for name in names]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]

    def stages(self, names: tuple[str, ...]) -> str:
        return listed(names) if not self.markdown else self.names(names)

    def title(self, text: str) -> None:
        """A line that opens a block: bold in markdown, followed by the blank line lists need there."""
        if self.markdown:
            self.line(f"**{text}**")
            self.line("")
        else:
            self.line(text)


def _empty_value(value: Any) -> bool:
    return value in ("", [], {}) or (isinstance(value, str) and not value.strip())


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
