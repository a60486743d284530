"""Explain stage: a decision and its trace -> plain text, markdown, or JSON.

Written for an auditor: the outcome; the rule that fired, its `because` and its source line;
each of its conditions with the values it read; every rule tried before it and the
condition that stopped it (or the missing field that left it unknown); the default when
nothing fired; the policy's name, version and content hash. The JSON form is the same
trace as data, and is what `classify --explain` attaches to each record.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import weakref
from typing import Any

from .errors import UsageError
from .evaluate import ConditionTrace, Decision, FieldValue, RuleTrace, Trace
from .evaluate import _word as result_word
from .expressions import days_since_inputs, reads_as_of
from .inputs import CheckedItem, number_text
from .jsonio import encode, encode_record
from .render import markdown_code, markdown_text
from .sandbox import days_since

FORMATS = ("text", "markdown", "json")

_CONDITION_WORDS = {"true": "held", "false": "failed", "unknown": "unknown", "skipped": "not checked"}
_RULE_WORDS = {"true": "fired", "false": "did not fire", "unknown": "unknown"}
_GROUP_WORDS = {"all": "all of", "any": "any of", "not": "not"}


def explain(decision: Decision, fmt: str = "text") -> str:
    """The explanation of `decision` in format `fmt` ("text", "markdown" or "json")."""
    if fmt == "json":
        return json.dumps(explanation_record(decision), indent=2, ensure_ascii=False, default=_json_default) + "\n"
    if fmt == "markdown":
        return _Writer(decision, markdown=True).render()
    if fmt == "text":
        return _Writer(decision, markdown=False).render()
    raise unknown_format(fmt)


def unknown_format(fmt: Any) -> UsageError:
    """The error for an explanation format there is none of."""
    return UsageError(f"unknown explanation format {fmt!r}: one of {', '.join(FORMATS)}")


# -- data -----------------------------------------------------------------------------------------


def explanation_record(decision: Decision) -> dict[str, Any]:
    """The decision with its trace, as JSON-ready data."""
    return {
        "id": decision.item_id,
        "outcome": _listed(decision.outcome),
        "rule": _listed(decision.rule),
        "because": _listed(decision.because),
        "policy": decision.policy.as_record(),
        "trace": decision_trace_record(decision),
    }


def decision_trace_record(decision: Decision) -> dict[str, Any]:
    """The trace of a decision as JSON-ready data, the same as `trace_record(decision.trace)`.

    Streams ask for this once per item, so it is built straight from what the evaluation
    recorded, through templates made once per policy, without the readable `Trace` objects.
    """
    recorded = decision.recorded_evaluation()
    if recorded is None:
        return trace_record(decision.trace)
    classifier, nodes, checked = recorded
    return _templates(classifier).record(decision.verdict.is_default, nodes, checked)


def decision_trace_json(decision: Decision) -> bytes:
    """The trace of a decision as compact JSON: the bytes `encode(decision_trace_record(decision))`
    gives, which is what `classify --explain` writes after each record's `"trace":`.

    A trace is several kilobytes for a few dozen values, and items of a stream share a few
    hundred shapes (which conditions held, which inputs came from where), so each shape is
    encoded once, with a mark for every value, and later items only fill the values in.
    """
    recorded = decision.recorded_evaluation()
    if recorded is None:
        return encode_record(trace_record(decision.trace))
    classifier, nodes, checked = recorded
    return _templates(classifier).json(decision.verdict.is_default, nodes, checked)


def _templates(classifier: Any) -> _TraceTemplates:
    templates = _TEMPLATES.get(classifier)
    if templates is None:
        templates = _TEMPLATES[classifier] = _TraceTemplates(classifier.policy, classifier.order)
    return templates


# an input's value in an encoded trace shape: "<mark><number of the input><mark>", written by
# the encoder as it is (UTF-8, no escape), and found in no shape unless a policy's text holds it
_MARK = "\ue000"
_MARKED = re.compile(rb'"\xee\x80\x80(\d+)\xee\x80\x80"')
_SHAPE_BYTES_KEPT = 8 << 20  # encoded shapes kept per policy; traces of later new shapes are encoded in full
_PLAIN_TYPES = (str, int, float, bool, type(None))  # encoded as _json_value would leave them


class _TraceTemplates:
    """The parts of a trace record that do not depend on the item, for one policy."""

    def __init__(self, policy: Any, order: Any):
        self.hit = policy.hit
        self.inputs = [spec.name for spec in policy.inputs]
        self.nodes: dict[int, tuple[dict[str, Any], tuple[int, ...], tuple[str, ...]]] = {}
        for condition in policy.conditions:
            static: dict[str, Any] = {"kind": condition.kind}
            if condition.text is not None:
                static["text"] = condition.text
            static["result"] = None
            static["source"] = str(condition.span)
            names: tuple[str, ...] = ()
            if condition.kind == "expr":
                expr = condition.expr
                names = expr.reads + tuple(n for n in expr.presence if n not in expr.reads)
            self.nodes[condition.node_id] = (static, tuple(c.node_id for c in condition.children), names)
        self.rules = [
            (rule.when.node_id, {"rule": rule.id, "outcome": rule.outcome, "result": None, "source": rule.span.short}, rule.id)
            for rule in order
        ]
        self.shapes: dict[Any, tuple[bytes, tuple[tuple[bytes, str], ...]]] = {}
        self.shape_bytes = 0
        self.shaping = True  # whether new shapes are kept (see _SHAPE_BYTES_KEPT, shape)

    def json(self, default_applied: bool, nodes: Any, checked: Any) -> bytes:
        """`encode(self.record(...))`, from the encoded shape of the trace (see decision_trace_json)."""
        values = checked.values
        key = (default_applied, tuple(nodes), tuple(values), checked.defaulted)
        try:
            shape = self.shapes.get(key)
        except TypeError:  # a condition's value that cannot be a key: no shape
            return encode_record(self.record(default_applied, nodes, checked))
        if shape is None:
            shape = self.shape(default_applied, nodes, checked) if self.shaping else None
            if shape is None:
                return encode_record(self.record(default_applied, nodes, checked))
            self.shapes[key] = shape
            self.shape_bytes += len(shape[0])
            self.shaping = self.shape_bytes < _SHAPE_BYTES_KEPT
        layout, names = shape
        filled = {}
        for mark, name in names:
            value = values[name]
            filled[mark] = encode(value) if type(value) in _PLAIN_TYPES else encode_record(_json_value(value))
        return layout % filled

    def shape(self, default_applied: bool, nodes: Any, checked: Any) -> tuple[bytes, tuple[tuple[bytes, str], ...]] | None:
        """The trace encoded with a mark for each value, as a %-layout of named holes, and the
        inputs behind the holes; None (and no more shapes) if a mark is found where no value
        was put, which is in the policy's own text."""
        numbers = {name: str(number) for number, name in enumerate(self.inputs)}
        marked = CheckedItem({name: f"{_MARK}{numbers[name]}{_MARK}" for name in checked.values if name in numbers},
                             checked.present, checked.defaulted)
        encoded = encode(self.record(default_applied, nodes, marked))
        parts = _MARKED.split(encoded.replace(b"%", b"%%"))
        if any(_MARK.encode() in part for part in parts[::2]):
            self.shaping = False
            return None
        holes = parts[1::2]
        names = {hole: self.inputs[int(hole)] for hole in holes}
        layout = b"".join(part if index % 2 == 0 else b"%(" + part + b")s" for index, part in enumerate(parts))
        return layout, tuple(names.items())

    def record(self, default_applied: bool, nodes: Any, checked: Any) -> dict[str, Any]:
        fields: dict[str, dict[str, Any]] = {}
        for name in self.inputs:
            if name not in checked.values:
                fields[name] = {"name": name, "from": "missing"}
            else:
                source = "default" if name in checked.defaulted else "item"
                fields[name] = {"name": name, "from": source, "value": _json_value(checked.values[name])}
        missing: list[str] = []
        rules = []
        not_considered = []
        for node_id, static, rule_id in self.rules:
            value = nodes[node_id]
            if value is None:
                not_considered.append(rule_id)
                continue
            rule = dict(static)
            rule["result"] = result_word(value)
            rule["condition"] = self.node(node_id, nodes, fields, missing)
            rules.append(rule)
        return {"hit": self.hit, "rules": rules, "not_considered": not_considered, "default_applied": default_applied,
                "missing": missing}

    def node(self, node_id: int, nodes: Any, fields: dict[str, dict[str, Any]], missing: list[str]) -> dict[str, Any]:
        static, children, names = self.nodes[node_id]
        record = dict(static)
        record["result"] = result_word(nodes[node_id])
        if record["kind"] == "expr":
            record["inputs"] = [fields[name] for name in names]
            for name in names:
                if fields[name]["from"] == "missing" and name not in missing:
                    missing.append(name)
        if children:
            record["children"] = [self.node(child, nodes, fields, missing) for child in children]
        return record


_TEMPLATES: weakref.WeakKeyDictionary[Any, _TraceTemplates] = weakref.WeakKeyDictionary()


def trace_record(trace: Trace) -> dict[str, Any]:
    """A trace as JSON-ready data (the `trace` of a `classify --explain` record)."""
    return {
        "hit": trace.hit,
        "rules": [_rule_record(rule) for rule in trace.rules],
        "not_considered": [rule.id for rule in trace.not_considered],
        "default_applied": trace.default_applied,
        "missing": list(trace.missing),
    }


def _rule_record(rule_trace: RuleTrace) -> dict[str, Any]:
    rule = rule_trace.rule
    return {
        "rule": rule.id,
        "outcome": rule.outcome,
        "result": rule_trace.result,
        "source": rule.span.short,
        "condition": _condition_record(rule_trace.condition),
    }


def _condition_record(node: ConditionTrace) -> dict[str, Any]:
    condition = node.condition
    record: dict[str, Any] = {"kind": condition.kind}
    if condition.text is not None:
        record["text"] = condition.text
    record["result"] = node.result
    record["source"] = str(condition.span)
    if condition.kind == "expr":
        record["inputs"] = [_field_record(field) for field in node.inputs]
    if node.children:
        record["children"] = [_condition_record(child) for child in node.children]
    return record


def _field_record(field: FieldValue) -> dict[str, Any]:
    record: dict[str, Any] = {"name": field.name, "from": field.source}
    if field.source != "missing":
        record["value"] = _json_value(field.value)
    return record


def _json_value(value: Any) -> Any:
    """An item's value as JSON-ready data: dates as ISO text. Without recursion, as an item may
    hold values nested a thousand levels deep."""
    if isinstance(value, _dt.date):  # a datetime too
        return value.isoformat()
    if not isinstance(value, (list, dict)):
        return value
    top: Any = [] if isinstance(value, list) else {}
    work = [(value, top)]
    while work:
        source, target = work.pop()
        for key, inner in enumerate(source) if isinstance(source, list) else source.items():
            if isinstance(inner, _dt.date):
                inner = inner.isoformat()
            elif isinstance(inner, (list, dict)):
                copy: Any = [] if isinstance(inner, list) else {}
                work.append((inner, copy))
                inner = copy
            if isinstance(target, list):
                target.append(inner)
            else:
                target[key] = inner
    return top


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- prose ----------------------------------------------------------------------------------------


def show_value(field: FieldValue) -> str:
    """How an input's value is written in an explanation."""
    if field.source == "missing":
        return f"{field.name} is missing"
    text = f"{field.name} = {_show(field.value)}"
    return text + " (default)" if field.source == "default" else text


def _show_days(days: float) -> str:
    # counted from a date-time, days are fractional: two decimals (a quarter of an hour) are enough to read
    return str(days) if isinstance(days, int) else f"{days:.2f}".rstrip("0").rstrip(".")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        from .jsonio import nested

        shown = _json_value(value)
        try:
            return json.dumps(shown, ensure_ascii=False)
        except RecursionError:  # as deep as an item may be: with the room items are read with
            return nested(lambda data: json.dumps(data, ensure_ascii=False), shown)
    return number_text(value) if isinstance(value, (int, float)) else repr(value)


class _Writer:
    """Lays out one explanation; the text and markdown forms differ only in decoration."""

    def __init__(self, decision: Decision, markdown: bool):
        self.decision = decision
        self.trace = decision.trace
        self.markdown = markdown
        self.lines: list[str] = []
        self.as_of = decision.policy.as_of  # what days_since() counted to, named beside its conditions

    def render(self) -> str:
        decision, trace = self.decision, self.trace
        verdict = decision.verdict
        item = f"Item {self.text(_show(decision.item_id))}" if decision.item_id is not None else "The item"
        outcome = ", ".join(verdict.outcome) if verdict.collect else verdict.outcome
        self.heading(f"{item}: {outcome}")
        fired = [rule for rule in trace.rules if rule.matched]
        if verdict.is_default:
            self.line(f"No rule fired, so the policy's default outcome {self.name(outcome)} applies.")
            if verdict.because and not verdict.collect:
                self.line(f"Default: {verdict.because}")
            self.line("")
        for rule_trace in fired:
            self.rule(rule_trace, "fired")
        others = [rule for rule in trace.rules if not rule.matched]
        if others:
            if trace.hit in ("first", "priority") and fired:
                order = "in priority order" if trace.hit == "priority" else "in order"
                self.subheading(f"Rules tried before it ({order}), which did not fire")
            else:
                self.subheading("Rules that did not fire")
            for rule_trace in others:
                self.rule(rule_trace, _RULE_WORDS[rule_trace.result])
        if trace.not_considered:
            names = ", ".join(self.name(rule.id) for rule in trace.not_considered)
            earlier = "a rule tried before them in priority order" if trace.hit == "priority" else "an earlier rule"
            self.line(f"Not considered, because {earlier} decided: {names}.")
            self.line("")
        missing = trace.missing
        if missing:
            names = ", ".join(self.name(name) for name in missing)
            one = len(missing) == 1
            self.line(
                f"Missing data: {names} {'was' if one else 'were'} not in the item and "
                f"{'has' if one else 'have'} no default, so the conditions reading "
                f"{'it' if one else 'them'} are unknown; a rule fires only when its conditions are known to hold."
            )
            self.line("")
        self.line(f"Policy: {decision.policy.title()}")
        return "\n".join(self.lines).rstrip() + "\n"

    # -- pieces

    def rule(self, rule_trace: RuleTrace, status: str) -> None:
        rule = rule_trace.rule
        if status == "fired":
            self.line(f"Rule {self.name(rule.id)} fired ({rule.span.short}): {rule.outcome}")
        else:
            self.line(f"- {self.name(rule.id)} ({rule.span.short}) would give {rule.outcome}: {status}")
        # in markdown a rule that did not fire is itself a list item: nest its details under it
        depth = 2 if self.markdown and status != "fired" else 1
        if self.markdown and status == "fired":
            self.line("")
        item = self.indent(depth) + ("- " if self.markdown else "")
        if status == "fired" and rule.because:
            self.line(f"{item}Because: {rule.because}")
        root = rule_trace.condition
        if root.condition.kind in ("all", "any"):
            self.line(f"{item}{'All' if root.condition.kind == 'all' else 'Any'} of these:")
            for child in root.children:
                self.condition(child, depth + 1)
        else:
            self.line(f"{item}Condition:")
            self.condition(root, depth + 1)
        self.line("")

    def condition(self, node: ConditionTrace, depth: int) -> None:
        condition = node.condition
        word = _CONDITION_WORDS[node.result] + ":"
        label = f"**{word}**" if self.markdown else f"{word:<12}"
        if condition.kind in _GROUP_WORDS:
            self.line(f"{self.indent(depth)}{self.bullet_mark(depth)}{label} {_GROUP_WORDS[condition.kind]}")
            for child in node.children:
                self.condition(child, depth + 1)
            return
        if condition.kind == "const":
            self.line(f"{self.indent(depth)}{self.bullet_mark(depth)}{label} always {'true' if condition.value else 'false'}")
            return
        text = f"{self.indent(depth)}{self.bullet_mark(depth)}{label} {self.expr(condition.text or '')}"
        shown = self.shown(node.inputs, condition)
        if shown and node.result != "skipped":
            text += "   (" + "; ".join(shown) + ")"
        self.line(text)

    def shown(self, fields: tuple[FieldValue, ...], condition: Any = None) -> list[str]:
        """The values a condition read; where it calls days_since(), the days counted from each
        input's value and the as-of date they are counted to."""
        shown = [self.text(show_value(field)) for field in fields]
        if self.as_of is None or condition is None:
            return shown
        checked = [node.expr for node in condition.walk() if node.expr is not None and reads_as_of(node.expr)]
        if checked:
            values = {field.name: field.value for field in fields if field.source != "missing"}
            for expr in checked:
                for written, name in days_since_inputs(expr).items():
                    if name in values:
                        shown.append(f"days_since({written}) = {_show_days(days_since(values[name], self.as_of))}")
            shown.append(f"as of {self.as_of.isoformat()}")
        return shown

    def heading(self, text: str) -> None:
        self.line(f"## {text}" if self.markdown else text)
        self.line("")

    def subheading(self, text: str) -> None:
        self.line(f"**{text}:**" if self.markdown else f"{text}:")
        self.line("")

    def line(self, text: str) -> None:
        self.lines.append(text)

    def indent(self, depth: int) -> str:
        # markdown nests list items two spaces per level, starting at the margin
        return "  " * (depth - 1 if self.markdown else depth)

    def bullet_mark(self, depth: int) -> str:
        return "- "

    def name(self, text: str) -> str:
        return markdown_code(text) if self.markdown else f"'{text}'"

    def expr(self, text: str) -> str:
        return markdown_code(text) if self.markdown else text

    def text(self, text: str) -> str:
        """Text an item gave (its id, its values), shown as written in markdown too."""
        return markdown_text(text) if self.markdown else text
