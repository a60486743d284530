"""Validate stage, stage-gate kind: a `kind: gates` document -> a checked `GatesPolicy`.

The schema pass (see `validate.py`) has checked the document's structure; this module checks
its meaning: the stages (none, or one listed twice), every gate's transition (stages that do
not exist, a gate that skips stages or leads backwards, two gates for one move), the roster
groups approvals name, veto members and quorums, and every condition, with the same
expression checks, input declarations and `file:line:column` diagnostics as classification
(it extends the same `DocumentBuilder`). Like every check here it only reports problems at
paths and looks only at parts whose shape the schema accepted.
"""

from __future__ import annotations

from typing import Any

from .errors import Diagnostic, Span, counted, did_you_mean, listed
from .loader import Path
from .model import (
    IMPLICIT_FIELDS,
    Approval,
    Evidence,
    Gate,
    GateCondition,
    GatesPolicy,
    InputSpec,
)
from .validate import DocumentBuilder, content_hash


class GatesBuilder(DocumentBuilder):
    """Builds a `GatesPolicy` from a document, collecting semantic problems."""

    def build(self, outcomes: tuple[str, ...] = ()) -> GatesPolicy | None:
        """The policy, or None when it has problems. `outcomes` are the outcomes the policy
        set's classification policies declare: `outcome` may only be compared with those."""
        data = self.data
        stages = self.stages(data.get("stages"))
        inputs = self.inputs(data.get("inputs"))
        self.reserved(data.get("inputs"))
        implicit = implicit_inputs(stages, outcomes, self.document.span)
        scope = self.scope([*inputs, *implicit])
        applies_to = None
        if "applies_to" in data:
            applies_to = self.bounded(self.condition(data["applies_to"], ("applies_to",), scope), ("applies_to",))
        roster = self.roster(data.get("roster"))
        allow_skip = data.get("allow_skip") is True
        gates = self.gates(data.get("gates"), stages, roster, scope, allow_skip)
        self.ungated(stages, gates, data.get("gates"))
        name = data.get("name")
        if not isinstance(name, str) or [d for d in self.diagnostics if d.severity == "error"]:
            return None
        version = self.version()
        description = data.get("description") if isinstance(data.get("description"), str) else None
        order = {stage: index for index, stage in enumerate(stages)}
        return GatesPolicy(
            name=name,
            version=version,
            description=description,
            stages=tuple(stages),
            applies_to=applies_to,
            inputs=tuple(inputs),
            implicit=implicit,
            roster=tuple(roster.items()),
            allow_skip=allow_skip,
            gates=tuple(sorted(gates, key=lambda g: (order[g.to_stage], order[g.from_stage]))),
            span=self.document.span,
            sha256=content_hash(self.data, version),
            conditions=tuple(self.conditions),
            group_spans=tuple(self.document.key_span(("roster", group)) for group in roster),
        )

    # -- stages and inputs

    def stages(self, declared: Any) -> list[str]:
        if not isinstance(declared, list):
            return []
        if not declared:
            self.problem(("stages",), "empty-stages", "'stages' lists no stage",
                         "list the stages in order, e.g. [definition, analysis, approval, charter]")
            return []
        stages: list[str] = []
        first: dict[str, int] = {}
        for index, stage in enumerate(declared):
            if not isinstance(stage, str):
                continue
            if stage in first:
                self.problem(("stages", index), "duplicate-stage", f"stage '{stage}' is listed twice",
                             f"the first is at line {self.document.value_span(('stages', first[stage])).line}")
                continue
            first[stage] = index
            stages.append(stage)
        if len(declared) == 1:
            self.problem(("stages",), "empty-stages", "'stages' lists only one stage",
                         "a gate leads from one stage to another; list at least two")
        return stages

    def reserved(self, declared: Any) -> None:
        """Inputs may not redeclare the fields every gates item carries."""
        if not isinstance(declared, dict):
            return
        for name in declared:
            if name.split(".")[0] in IMPLICIT_FIELDS:
                self.problem(("inputs", name), "reserved-input", f"'{name}' is a field of every gates item; it cannot be declared",
                             "'stage', 'target', 'outcome' and 'approvals' are read without declaring them", at_key=True)

    def ungated(self, stages: list[str], gates: list[Gate], declared: Any) -> None:
        """A stage no gate leads to is entered without criteria: probably a gate is missing.
        A gate written to lead there counts, even where it has problems of its own."""
        targets = {gate.to_stage for gate in gates}
        if isinstance(declared, dict):
            targets.update(declared)
        elif isinstance(declared, list):
            targets.update(entry.get("to") for entry in declared if isinstance(entry, dict))
        for index, stage in enumerate(stages[1:], start=1):
            if stage not in targets:
                span = self.document.value_span(("stages", index))
                self.diagnostics.append(Diagnostic(
                    "ungated-stage", f"no gate leads to stage '{stage}'; items enter it without any criteria", span,
                    f"add a gate with 'to: {stage}' if entering it should need evidence, conditions or approvals",
                    severity="warning"))

    # -- roster

    def roster(self, declared: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(declared, dict):
            return {}
        roster: dict[str, tuple[str, ...]] = {}
        for group, members in declared.items():
            if not isinstance(members, list):
                continue
            seen: list[str] = []
            for index, member in enumerate(members):
                if not isinstance(member, str):
                    continue
                if member in seen:
                    self.problem(("roster", group, index), "duplicate-member", f"'{member}' is listed twice in group '{group}'",
                                 "each member has one vote; list them once")
                    continue
                seen.append(member)
            roster[group] = tuple(seen)
        return roster

    # -- gates

    def gates(self, declared: Any, stages: list[str], roster: dict[str, tuple[str, ...]], scope: Any,
              allow_skip: bool) -> list[Gate]:
        entries: list[tuple[Path, Any, Any, Path, bool]] = []  # (path, body, target, target path, target at key)
        if isinstance(declared, list):
            for index, body in enumerate(declared):
                if isinstance(body, dict):
                    entries.append((("gates", index), body, body.get("to"), ("gates", index, "to"), False))
        elif isinstance(declared, dict):
            for key, body in declared.items():
                if not isinstance(body, dict):
                    continue
                if "to" in body and body["to"] != key:
                    self.problem(("gates", key, "to"), "gate-target-mismatch",
                                 f"the gate under '{key}' says it leads to '{body['to']}'",
                                 f"in a mapping of gates the key is the stage the gate leads to; remove 'to' or write it as '{key}'")
                    continue
                entries.append((("gates", key), body, key, ("gates", key), True))
        gates: list[Gate] = []
        moves: dict[tuple[str, str], Span] = {}
        ids: dict[str, Span] = {}
        for path, body, target, target_path, at_key in entries:
            gate = self.gate(path, body, target, target_path, at_key, stages, roster, scope, allow_skip)
            if gate is None:
                continue
            move = (gate.from_stage, gate.to_stage)
            if move in moves:
                self.problem(target_path, "duplicate-gate",
                             f"a gate from '{gate.from_stage}' to '{gate.to_stage}' is already defined",
                             f"the first is at line {moves[move].line}; put all its criteria in one gate", at_key=at_key)
                continue
            moves[move] = gate.span
            if gate.id in ids:
                self.problem(path + ("id",), "duplicate-gate-id", f"gate id '{gate.id}' is used twice",
                             f"the first is at line {ids[gate.id].line}; gate ids must be unique")
                continue
            ids[gate.id] = gate.span
            gates.append(gate)
        return gates

    def gate(self, path: Path, body: dict[str, Any], target: Any, target_path: Path, at_key: bool, stages: list[str],
             roster: dict[str, tuple[str, ...]], scope: Any, allow_skip: bool) -> Gate | None:
        to_stage = self.stage_name(target, target_path, stages, at_key)
        from_stage = None
        if "from" in body:
            from_stage = self.stage_name(body["from"], path + ("from",), stages, False)
        elif to_stage is not None:
            index = stages.index(to_stage)
            if index == 0:
                self.problem(target_path, "invalid-transition", f"'{to_stage}' is the first stage; no gate can lead to it",
                             "a gate leads to the stage an item enters; the first stage is where items start",
                             at_key=at_key)
                to_stage = None
            else:
                from_stage = stages[index - 1]
        if to_stage is not None and from_stage is not None and "from" in body:
            if not self.transition(from_stage, to_stage, stages, path + ("from",), allow_skip):
                to_stage = None
        require = self.evidence(body.get("require"), path + ("require",))
        conditions = self.gate_conditions(body, path, scope)
        approvals = self.approvals(body.get("approvals"), path + ("approvals",), roster)
        self.distinct_criteria([(e.field, e.span, "evidence") for e in require]
                               + [(c.name, c.span, "condition") for c in conditions]
                               + [(a.name, a.span, "approval") for a in approvals])
        if to_stage is None or from_stage is None:
            return None
        gate_id = body.get("id") if isinstance(body.get("id"), str) else f"{from_stage}->{to_stage}"
        return Gate(
            id=gate_id,
            from_stage=from_stage,
            to_stage=to_stage,
            span=self.document.key_span(target_path) if at_key else self.document.value_span(path),
            require=tuple(require),
            conditions=tuple(conditions),
            approvals=tuple(approvals),
            because=_text(body.get("because")),
            description=_text(body.get("description")),
        )

    def distinct_criteria(self, criteria: list[tuple[str, Span, str]]) -> None:
        """Each criterion of a gate by a name of its own: results, explanations and test cases
        (`unmet: [name]`) name them. Evidence twice is reported where it is read."""
        first: dict[str, tuple[Span, str]] = {}
        for name, span, kind in criteria:
            if name in first and (kind, first[name][1]) != ("evidence", "evidence"):
                at, other = first[name]
                self.diagnostics.append(Diagnostic(
                    "duplicate-criterion", f"two criteria of this gate are named '{name}'", span,
                    f"the {other} at line {at.line} is named so too; give "
                    f"{'it' if kind == 'evidence' else f'this {kind}'} an 'id' of its own"))
            first.setdefault(name, (span, kind))

    def stage_name(self, name: Any, path: Path, stages: list[str], at_key: bool) -> str | None:
        if not isinstance(name, str):
            return None
        if name not in stages:
            if stages:
                self.problem(path, "unknown-stage", f"stage '{name}' is not one of the policy's stages",
                             did_you_mean(name, stages) or "stages: " + ", ".join(stages), at_key=at_key)
            return None
        return name

    def transition(self, start: str, end: str, stages: list[str], path: Path, allow_skip: bool) -> bool:
        low, high = stages.index(start), stages.index(end)
        if low >= high:
            what = "is the stage it leads to" if low == high else f"comes after '{end}'"
            self.problem(path, "invalid-transition", f"a gate cannot lead from '{start}' to '{end}': '{start}' {what}",
                         "gates lead forward, from a stage to a later one")
            return False
        if high - low > 1 and not allow_skip:
            skipped = stages[low + 1:high]
            self.problem(path, "skip-not-allowed",
                         f"the gate from '{start}' to '{end}' skips {listed(skipped)}",
                         "gates lead from one stage to the next; set 'allow_skip: true' to let items move past stages")
            return False
        return True

    def evidence(self, declared: Any, path: Path) -> list[Evidence]:
        if not isinstance(declared, list):
            return []
        found: list[Evidence] = []
        for index, entry in enumerate(declared):
            field, because, at = entry, None, path + (index,)
            if isinstance(entry, dict):
                field, because, at = entry.get("field"), _text(entry.get("because")), path + (index, "field")
            if not isinstance(field, str):
                continue
            if any(e.field == field for e in found):
                self.problem(at, "duplicate-evidence", f"evidence '{field}' is required twice in this gate")
                continue
            found.append(Evidence(field, self.document.value_span(at), because))
        return found

    def gate_conditions(self, body: dict[str, Any], path: Path, scope: Any) -> list[GateCondition]:
        if "when" not in body:
            return []
        declared = body["when"]
        entries = [(declared, path + ("when",))] if not isinstance(declared, list) else [
            (entry, path + ("when", index)) for index, entry in enumerate(declared)
        ]
        found: list[GateCondition] = []
        for entry, at in entries:
            condition_id, because, where = None, None, at
            if isinstance(entry, dict) and ("when" in entry or "condition" in entry):
                key = "when" if "when" in entry else "condition"
                condition_id, because = _text(entry.get("id")), _text(entry.get("because"))
                entry, where = entry[key], at + (key,)
            elif isinstance(entry, dict) and not {"all", "any", "not"} & set(entry):
                continue  # a named condition without one; the schema pass has reported it
            when = self.bounded(self.condition(entry, where, scope), where)
            if when is None:
                continue
            found.append(GateCondition(condition_id or when.as_expression(), when, self.document.value_span(at), because))
        return found

    def approvals(self, declared: Any, path: Path, roster: dict[str, tuple[str, ...]]) -> list[Approval]:
        entries = [(declared, path)] if isinstance(declared, dict) else (
            [(entry, path + (index,)) for index, entry in enumerate(declared)] if isinstance(declared, list) else []
        )
        found: list[Approval] = []
        for entry, at in entries:
            if isinstance(entry, dict):
                approval = self.approval(entry, at, roster)
                if approval is not None:
                    found.append(approval)
        return found

    def approval(self, entry: dict[str, Any], path: Path, roster: dict[str, tuple[str, ...]]) -> Approval | None:
        group = entry.get("from")
        if not isinstance(group, str):
            return None
        members = roster.get(group)
        if members is None:
            hint = did_you_mean(group, roster) or (
                "roster groups: " + ", ".join(roster) if roster else "declare the group and its members under 'roster'"
            )
            self.problem(path + ("from",), "unknown-group", f"roster group '{group}' is not declared", hint)
            return None
        rule, needed = self.quorum(entry.get("rule", "majority"), path + ("rule",), group, members)
        veto = entry.get("veto", [])
        veto_list = [veto] if isinstance(veto, str) else veto if isinstance(veto, list) else []
        for index, member in enumerate(veto_list):
            at = path + ("veto",) if isinstance(veto, str) else path + ("veto", index)
            if isinstance(member, str) and member not in members:
                self.problem(at, "unknown-veto-member", f"'{member}' may not veto: not a member of group '{group}'",
                             did_you_mean(member, members) or f"members of '{group}': " + ", ".join(members))
            elif isinstance(member, str) and member in veto_list[:index]:
                self.problem(at, "duplicate-veto-member", f"'{member}' is listed twice under 'veto'", "list them once")
        if rule is None:
            return None
        return Approval(
            name=_text(entry.get("id")) or group,
            group=group,
            members=members,
            rule=rule,
            needed=needed,
            span=self.document.value_span(path),
            veto=tuple(m for m in veto_list if isinstance(m, str) and m in members),
            because=_text(entry.get("because")),
        )

    def quorum(self, rule: Any, path: Path, group: str, members: tuple[str, ...]) -> tuple[str | None, int]:
        size = len(members)
        if rule == "majority":
            return "majority", size // 2 + 1
        if rule == "unanimous":
            return "unanimous", size
        if isinstance(rule, dict) and "at_least" in rule:
            count = rule["at_least"]
            if isinstance(count, float) and count.is_integer():
                count = int(count)
            if not isinstance(count, int) or isinstance(count, bool):
                return None, 0  # the schema pass has reported it
            if count < 1:
                self.problem(path + ("at_least",), "invalid-quorum", f"at_least must be 1 or more, not {count}",
                             "an approval nobody needs to give is no approval; remove it instead")
                return None, 0
            if count > size:
                self.problem(path + ("at_least",), "invalid-quorum",
                             f"at_least: {count} can never be reached: group '{group}' has {counted(size, 'member')}",
                             f"use at most {size}, or 'unanimous'")
                return None, 0
            return "at_least", count
        return None, 0  # the schema pass has reported it


def implicit_inputs(stages: list[str] | tuple[str, ...], outcomes: tuple[str, ...], span: Span) -> tuple[InputSpec, ...]:
    """The fields every gates item may carry without the policy declaring them."""
    stage_enum = tuple(stages) or None
    return (
        InputSpec("stage", "string", span, enum=stage_enum, required=True,
                  description="The stage the item is at."),
        InputSpec("target", "string", span, enum=stage_enum,
                  description="The stage the item asks to move to (default: the next stage)."),
        InputSpec("outcome", "string", span, enum=tuple(outcomes) or None,
                  description="The item's classification outcome."),
        InputSpec("approvals", "array", span, description="Votes: a list of {by, vote, at}."),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
