"""Lint: findings about a policy that hold for every possible item, each with a witness.

Every condition is translated into two solver formulas, T ("known true") and F ("known
false"), which encode the engine's three-valued logic exactly: an expression is known only
when every input it reads is present, `all` / `any` / `not` combine T and F as Kleene logic
does, and has() is never unknown. Declared types, enums and bounds constrain the inputs.
Then, with z3:

* a rule whose T cannot be satisfied can never fire (dead); the unsat core names the
  conditions that contradict each other;
* a rule whose T cannot be satisfied together with "no rule tried before it fires" is
  shadowed, under `first` and `priority`;
* under `unique`, two rules whose T can both be satisfied overlap;
* without a default, "no rule fires" that can be satisfied is a gap.

Parts the solver cannot model (regular expressions, text functions, list indexes, fields of
objects) become free values: that can only make a formula more satisfiable, so "can never"
claims stay sound, and findings that would depend on those parts are reported as
"not analysed" instead. Every witness is classified by the engine itself before it is
reported; a witness that does not show what the finding says is never printed.
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import Span, listed
from .model import ClassificationPolicy, Condition, InputSpec, Rule

SEVERITIES = ("error", "warning", "info")
QUERY_MILLISECONDS = 4000  # per solver question; beyond it the answer is "not analysed"


class SolverMissing(RuntimeError):
    """z3 is not installed."""


@dataclass(frozen=True)
class Finding:
    """One lint finding, with where it is, how serious, and an item that demonstrates it."""

    code: str
    severity: str
    message: str
    span: Span
    policy: str
    rule: str | None = None
    related: tuple[str, ...] = ()
    witness: dict[str, Any] | None = None
    hint: str | None = None


def solver() -> Any:
    """The z3 module, or SolverMissing with how to install it."""
    try:
        import z3
    except ImportError as error:
        raise SolverMissing(
            "rulebook lint needs the z3 constraint solver: pip install 'rulebook[lint]' (or pip install z3-solver)"
        ) from error
    return z3


# -- translation -------------------------------------------------------------------------------


class Unanalysed(Exception):
    """A part of an expression the translation does not model exactly."""


@dataclass
class _Input:
    spec: InputSpec
    value: Any  # the z3 variable holding its value (None when the type is not modelled)
    present: Any  # z3 Bool, or True when it always has a value (a default, or required)
    members: dict[Any, Any] = field(default_factory=dict)  # for lists of enum values: value -> Bool


class Translation:
    """The solver's view of a policy: its inputs, and the T and F formulas of its conditions."""

    def __init__(self, inputs: Any, roots: Any):
        self.z3 = solver()
        self.inputs: dict[str, _Input] = {}
        self.valid: list[Any] = []  # constraints every valid item meets
        self.free = 0
        self.unanalysed: dict[int, str] = {}  # condition node id -> why it is not modelled exactly
        for spec in inputs:
            self.declare(spec)
        self.true: dict[int, Any] = {}
        self.false: dict[int, Any] = {}
        for root in roots:
            self.condition(root)

    # -- inputs

    def declare(self, spec: InputSpec) -> None:
        z3 = self.z3
        name = spec.name
        always = spec.has_default or spec.required
        present = True if always else z3.Bool(f"has:{name}")
        entry = _Input(spec, None, present)
        kind = spec.type
        if kind == "integer":
            entry.value = z3.Int(name)
        elif kind == "number":
            entry.value = z3.Real(name)
        elif kind == "boolean":
            entry.value = z3.Bool(name)
        elif kind == "string":
            entry.value = z3.String(name)
        elif kind in ("date", "datetime"):
            entry.value = z3.Int(name) if kind == "date" else z3.Real(name)
        elif kind == "array" and spec.items is not None and spec.items.enum is not None:
            entry.members = {value: z3.Bool(f"{name} has {value!r}") for value in spec.items.enum}
        if entry.value is not None:
            if spec.enum is not None:
                self.valid.append(z3.Or([entry.value == self.constant(v, kind) for v in spec.enum]))
            if spec.minimum is not None:
                self.valid.append(entry.value >= self.constant(spec.minimum, kind))
            if spec.maximum is not None:
                self.valid.append(entry.value <= self.constant(spec.maximum, kind))
        self.inputs[name] = entry

    def constant(self, value: Any, kind: str | None = None) -> Any:
        z3 = self.z3
        if isinstance(value, bool):
            return z3.BoolVal(value)
        if isinstance(value, int) and kind != "number":
            return z3.IntVal(value)
        if isinstance(value, float) and not math.isfinite(value):  # 1e400 is read as inf
            raise Unanalysed(f"the constant {value}")
        if isinstance(value, (int, float)):
            return z3.RealVal(Fraction(value)) if not isinstance(value, bool) else z3.BoolVal(value)
        if isinstance(value, str):
            return z3.StringVal(value)
        if isinstance(value, _dt.datetime):
            return z3.RealVal(Fraction(value.timestamp()))
        if isinstance(value, _dt.date):
            return z3.IntVal(value.toordinal())
        raise Unanalysed(f"constant {value!r}")

    # -- conditions: T and F formulas per node

    def condition(self, condition: Condition) -> None:
        z3 = self.z3
        for child in condition.children:
            self.condition(child)
        node = condition.node_id
        kind = condition.kind
        if kind == "const":
            self.true[node], self.false[node] = z3.BoolVal(bool(condition.value)), z3.BoolVal(not condition.value)
        elif kind == "not":
            (child,) = condition.children
            self.true[node], self.false[node] = self.false[child.node_id], self.true[child.node_id]
        elif kind in ("all", "any"):
            trues = [self.true[c.node_id] for c in condition.children]
            falses = [self.false[c.node_id] for c in condition.children]
            if kind == "all":
                self.true[node], self.false[node] = z3.And(trues), z3.Or(falses)
            else:
                self.true[node], self.false[node] = z3.Or(trues), z3.And(falses)
        else:
            checked = condition.expr
            try:
                value, known = self.term(checked, checked.tree)
            except Unanalysed as why:
                self.unanalysed[node] = str(why)
                self.free += 1
                value, known = z3.Bool(f"unanalysed:{node}"), z3.Bool(f"unanalysed-known:{node}")
            self.true[node], self.false[node] = z3.And(known, value), z3.And(known, z3.Not(value))

    def term(self, checked: Any, node: ast.AST) -> tuple[Any, Any]:
        """(z3 value, z3 "every input it reads is present") of a sub-expression."""
        z3 = self.z3
        if isinstance(node, ast.Constant):
            return self.constant(checked.constants.get(id(node), node.value)), z3.BoolVal(True)
        if isinstance(node, (ast.Name, ast.Attribute)):
            ref = checked.refs.get(id(node))
            if ref is None or ref.subpath:
                raise Unanalysed("a field of an object")
            entry = self.inputs[ref.input]
            if entry.value is None:
                raise Unanalysed(f"'{ref.input}' ({entry.spec.type})")
            return entry.value, self.presence(entry)
        if isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            raise Unanalysed("and / or / not inside a comparison")
        if isinstance(node, ast.UnaryOp):
            value, known = self.term(checked, node.operand)
            return (-value if isinstance(node.op, ast.USub) else value), known
        if isinstance(node, ast.BinOp):
            return self.arithmetic(checked, node)
        if isinstance(node, ast.Compare):
            return self.compare(checked, node)
        if isinstance(node, ast.IfExp):
            test, known_test = self.term(checked, node.test)
            body, known_body = self.term(checked, node.body)
            orelse, known_else = self.term(checked, node.orelse)
            body, orelse = self.align(body, orelse)
            return z3.If(test, body, orelse), z3.And(known_test, z3.If(test, known_body, known_else))
        if isinstance(node, ast.Call):
            return self.call(checked, node)
        raise Unanalysed(_UNMODELLED.get(type(node).__name__, type(node).__name__))

    def presence(self, entry: _Input) -> Any:
        return self.z3.BoolVal(True) if entry.present is True else entry.present

    def align(self, a: Any, b: Any) -> tuple[Any, Any]:
        """Int and Real mix as numbers do."""
        z3 = self.z3
        if z3.is_int(a) and z3.is_real(b):
            return z3.ToReal(a), b
        if z3.is_real(a) and z3.is_int(b):
            return a, z3.ToReal(b)
        return a, b

    def arithmetic(self, checked: Any, node: ast.BinOp) -> tuple[Any, Any]:
        z3 = self.z3
        left, known_left = self.term(checked, node.left)
        right, known_right = self.term(checked, node.right)
        known = z3.And(known_left, known_right)
        if z3.is_string(left) or z3.is_string(right):
            if isinstance(node.op, ast.Add):
                return z3.Concat(left, right), known
            raise Unanalysed("repeated text")
        left, right = self.align(left, right)
        if z3.is_real(left) or isinstance(node.op, ast.Div):
            # the engine computes with floats, which round (1e16 + 1 == 1e16): a claim made
            # over exact fractions could be false
            raise Unanalysed("arithmetic with fractions (floats round)")
        if isinstance(node.op, ast.Add):
            return left + right, known
        if isinstance(node.op, ast.Sub):
            return left - right, known
        if isinstance(node.op, ast.Mult):
            return left * right, known
        raise Unanalysed(_UNMODELLED.get(type(node.op).__name__, f"operator {type(node.op).__name__}"))

    def compare(self, checked: Any, node: ast.Compare) -> tuple[Any, Any]:
        z3 = self.z3
        parts, knowns = [], []
        left_node = node.left
        left, known_left = self.term(checked, left_node)
        knowns.append(known_left)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                found, known = self.membership(checked, left_node, left, right_node)
                parts.append(found if isinstance(op, ast.In) else z3.Not(found))
                knowns.append(known)
                left_node = right_node
                continue
            right, known_right = self.term(checked, right_node)
            knowns.append(known_right)
            a, b = self.align(left, right)
            if z3.is_string(a) and not isinstance(op, (ast.Eq, ast.NotEq)):
                raise Unanalysed("ordering of text")
            parts.append({ast.Eq: lambda: a == b, ast.NotEq: lambda: a != b, ast.Lt: lambda: a < b,
                          ast.LtE: lambda: a <= b, ast.Gt: lambda: a > b, ast.GtE: lambda: a >= b}[type(op)]())
            left_node, left = right_node, right
        return z3.And(parts), z3.And(knowns)

    def membership(self, checked: Any, item_node: ast.AST, item: Any, container: ast.AST) -> tuple[Any, Any]:
        z3 = self.z3
        if isinstance(container, (ast.List, ast.Tuple, ast.Set)):
            options = [self.term(checked, element) for element in container.elts]
            equalities = []
            for value, _ in options:
                a, b = self.align(item, value)
                equalities.append(a == b)
            return z3.Or(equalities) if equalities else z3.BoolVal(False), z3.And([k for _, k in options] or [True])
        ref = checked.refs.get(id(container))
        if ref is not None and not ref.subpath and isinstance(item_node, ast.Constant):
            entry = self.inputs[ref.input]
            if entry.members and item_node.value in entry.members:
                return entry.members[item_node.value], self.presence(entry)
        raise Unanalysed("membership in a list or text")

    def call(self, checked: Any, node: ast.Call) -> tuple[Any, Any]:
        z3 = self.z3
        name = node.func.id  # type: ignore[attr-defined]
        if name == "has":
            ref = checked.refs[id(node.args[0])]
            if ref.subpath:
                raise Unanalysed("has() of a field of an object")
            entry = self.inputs[ref.input]
            if entry.present is True and entry.spec.has_default:
                # a default fills the value, but has() looks at the item itself
                return z3.Bool(f"carried:{ref.input}"), z3.BoolVal(True)
            return self.presence(entry), z3.BoolVal(True)
        arguments = [self.term(checked, argument) for argument in node.args]
        known = z3.And([k for _, k in arguments])
        values = [v for v, _ in arguments]
        if name == "abs":
            (value,) = values
            return z3.If(value >= 0, value, -value), known
        if name in ("min", "max") and len(values) >= 2:
            result = values[0]
            for value in values[1:]:
                a, b = self.align(result, value)
                result = z3.If(a <= b, a, b) if name == "min" else z3.If(a >= b, a, b)
            return result, known
        if name == "len" and z3.is_string(values[0]):
            return z3.Length(values[0]), known
        if name == "days_between":
            start, end = values
            if z3.is_int(start) and z3.is_int(end):
                return end - start, known
            raise Unanalysed("days_between() of date-times (floats round)")
        if name == "days_since":
            raise Unanalysed("days_since() (it counts to each run's as-of date)")
        raise Unanalysed(f"{name}()")

    # -- what a rule's analysis depends on

    def unanalysed_in(self, rule: Rule | Condition) -> list[str]:
        root = rule.when if isinstance(rule, Rule) else rule
        found = [self.unanalysed[node.node_id] for node in root.walk() if node.node_id in self.unanalysed]
        return list(dict.fromkeys(found))  # each reason once, however many conditions give it


# -- witnesses ---------------------------------------------------------------------------------


# what a not-analysed note names, in the words of the policy language
_UNMODELLED = {"Pow": "** (powers)", "Mod": "% (remainders)", "FloorDiv": "// (whole division)",
               "Subscript": "indexing (tags[0])", "List": "a list", "Tuple": "a list"}


def witness(translation: Translation, model: Any) -> dict[str, Any]:
    """An item built from a solver model: present inputs with their values."""
    z3 = translation.z3
    item: dict[str, Any] = {}
    for name, entry in translation.inputs.items():
        spec = entry.spec
        present = entry.present is True or z3.is_true(model.eval(entry.present, model_completion=True))
        if not present:
            continue
        if entry.members:
            item[name] = [v for v, flag in entry.members.items() if z3.is_true(model.eval(flag, model_completion=True))]
            continue
        if entry.value is None:
            if spec.required or not spec.has_default:
                item[name] = _placeholder(spec)
            continue
        value = model.eval(entry.value, model_completion=True)
        item_value = _python_value(z3, value, spec)
        if spec.has_default and item_value == spec.default and not _mentions(translation, model, name):
            continue  # the default says the same; leave it out to keep the witness short
        _set(item, spec.path, item_value)
    return item


def _mentions(translation: Translation, model: Any, name: str) -> bool:
    z3 = translation.z3
    carried = [d for d in model.decls() if d.name() == f"carried:{name}"]
    return bool(carried) and z3.is_true(model[carried[0]])


def _python_value(z3: Any, value: Any, spec: InputSpec) -> Any:
    if spec.type == "boolean":
        return z3.is_true(value)
    if spec.type == "string":
        return value.as_string()
    if spec.type == "integer":
        return value.as_long()
    if spec.type == "date":
        return _dt.date.fromordinal(max(1, value.as_long())).isoformat()
    fraction = Fraction(value.numerator_as_long(), value.denominator_as_long()) if z3.is_rational_value(value) else Fraction(0)
    if spec.type == "datetime":
        return _dt.datetime.fromtimestamp(float(fraction), tz=_dt.timezone.utc).isoformat()
    number = float(fraction)
    return int(number) if number.is_integer() and fraction.denominator == 1 and abs(number) < 2**53 else number


def _placeholder(spec: InputSpec) -> Any:
    if spec.enum:
        return spec.enum[0]
    return {"string": "x", "integer": 0, "number": 0, "boolean": False, "date": "2026-01-01",
            "datetime": "2026-01-01T00:00:00Z", "array": [], "object": {}}[spec.type]


def _set(item: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        item = item.setdefault(part, {})
    item[path[-1]] = value


# -- the analysis --------------------------------------------------------------------------------


def lint_classification(policy: ClassificationPolicy, timeout_ms: int = QUERY_MILLISECONDS) -> list[Finding]:
    """Every finding about one classification policy, in source order.

    `timeout_ms` bounds each question to the solver; a question it cannot answer in time
    makes no claim (the rule is reported as not analysed)."""
    from .compile import rule_order
    from .evaluate import Classifier

    translation = Translation(policy.inputs, [rule.when for rule in policy.rules])
    z3 = translation.z3
    classifier = Classifier(policy)
    findings: list[Finding] = []

    # one solver holds what every valid item meets; each question is asked in a scope of its own
    base = z3.Solver()
    base.set("timeout", timeout_ms)
    base.add(*translation.valid)

    def ask(*formulas: Any) -> tuple[str, Any]:
        """Can every valid item constraint and `formulas` hold at once? ("sat", model) if so."""
        base.push()
        try:
            base.add(*formulas)
            result = base.check()
            if result == z3.sat:
                return "sat", base.model()
            return ("unsat" if result == z3.unsat else "unknown"), None
        finally:
            base.pop()

    present = [entry.present for entry in translation.inputs.values() if entry.present is not True]

    def search(formulas: list[Any], verify: Any, attempts: int = 5) -> tuple[str, dict[str, Any] | None]:
        """Whether `formulas` can hold for a valid item, and an item the engine itself confirms
        (`verify(item)`): one that carries every input if there is such, as it says more."""
        if present:
            status, found = _search(formulas + present, verify, attempts)
            if found is not None:
                return status, found
        return _search(formulas, verify, attempts)

    def _search(formulas: list[Any], verify: Any, attempts: int) -> tuple[str, dict[str, Any] | None]:
        base.push()
        try:
            base.add(*formulas)
            status = "unknown"
            for attempt in range(attempts):
                result = base.check()
                if result != z3.sat:
                    if attempt == 0:
                        status = "unsat" if result == z3.unsat else "unknown"
                    break
                status = "sat"
                model = base.model()
                candidate = witness(translation, model)
                if verify(candidate):
                    return status, candidate
                values = [d() for d in model.decls() if d.arity() == 0]
                if not values:
                    break
                base.add(z3.Or([value != model[value.decl()] for value in values]))  # another solution next time
            return status, None
        finally:
            base.pop()

    def finding(code: str, severity: str, message: str, rule: Rule | None, **extra: Any) -> None:
        findings.append(Finding(code, severity, message, rule.span if rule else policy.span, policy.name,
                                rule.id if rule else None, **extra))

    order = rule_order(policy)
    dead: set[str] = set()
    for rule in order:
        answer, _ = ask(translation.true[rule.when.node_id])
        if answer == "unsat":
            dead.add(rule.id)
            finding("dead-rule", "error", f"rule '{rule.id}' can never fire: {_core_reason(translation, rule, timeout_ms)}", rule,
                    hint="check the comparisons against the inputs' declared types, enums and bounds")
        elif answer == "unknown":
            finding("not-analysed", "info", f"rule '{rule.id}' was not analysed: the solver gave no answer in time", rule)
    # shadowing under first / priority
    if policy.hit in ("first", "priority"):
        shadowed: list[tuple[Rule, tuple[Rule, ...]]] = []
        base.push()  # every earlier rule not firing, asserted once as the rules are passed
        try:
            for position, rule in enumerate(order):
                if rule.id not in dead and position > 0 and ask(translation.true[rule.when.node_id])[0] == "unsat":
                    shadowed.append((rule, order[:position]))
                base.add(z3.Not(translation.true[rule.when.node_id]))
        finally:
            base.pop()
        never = dead | {rule.id for rule, _ in shadowed}  # rules that decide no item, so shadow none
        for rule, earlier in shadowed:
            winners = [r for r in earlier if r.id not in never
                       and ask(translation.true[rule.when.node_id], translation.true[r.when.node_id])[0] == "sat"]
            _, example = search([translation.true[rule.when.node_id]],
                                lambda item, rule=rule: _fires_first_elsewhere(classifier, rule, item))
            names = ", ".join(f"'{r.id}'" for r in winners) or "earlier rules"
            word, hint = _why_first(policy, rule, winners)
            finding("shadowed-rule", "error",
                    f"rule '{rule.id}' can never fire: whenever it matches, {word} rule{'s' if len(winners) != 1 else ''} "
                    f"{names} decide{'s' if len(winners) == 1 else ''} first", rule,
                    related=tuple(r.id for r in winners), witness=example,
                    hint=f"{hint} the rules that shadow it, narrow them, or remove it")
    # overlaps under unique
    if policy.hit == "unique":
        undecided: dict[str, list[Rule]] = {}  # a rule -> the earlier rules it may overlap, not analysed
        for index, second in enumerate(policy.rules):
            earlier = [rule for rule in policy.rules[:index] if rule.id not in dead]
            if second.id in dead or not earlier:
                continue
            # one question first: in a policy of exclusive rules, most rules overlap none before them
            if ask(translation.true[second.when.node_id],
                   z3.Or([translation.true[rule.when.node_id] for rule in earlier]))[0] == "unsat":
                continue
            for first in earlier:
                unmodelled = translation.unanalysed_in(first) + translation.unanalysed_in(second)
                # where a part is left free, the solver's items seldom match as the engine does:
                # fewer tries keep a policy of many such rules quick to lint
                answer, candidate = search(
                    [translation.true[first.when.node_id], translation.true[second.when.node_id]],
                    lambda item, pair=(first, second): _rejected_as_overlap(classifier, *pair, item),
                    attempts=1 if unmodelled else 5)
                if answer != "sat":
                    continue
                if candidate is not None or not unmodelled:
                    # without a witness the overlap is still certain: every example found
                    # fails on another rule's expression first
                    finding("overlapping-rules", "error",
                            f"rules '{first.id}' and '{second.id}' can both match the same item, which 'unique' rejects",
                            second, related=(first.id,), witness=candidate,
                            hint="make their conditions exclude each other, or use hit: first or priority")
                else:
                    undecided.setdefault(second.id, []).append(first)
        for rule in policy.rules:  # one note a rule, however many rules it may overlap
            overlapped = undecided.get(rule.id)
            if overlapped:
                parts = dict.fromkeys(part for other in (*overlapped, rule) for part in translation.unanalysed_in(other))
                names = [other.id for other in overlapped]
                # the first few in the message; every one in `related`
                shown = listed(names) if len(names) <= 10 else \
                    ", ".join(f"'{name}'" for name in names[:10]) + f" and {len(names) - 10} more"
                finding("not-analysed", "info", f"rule '{rule.id}' may overlap rule{'s' if len(names) > 1 else ''} "
                        f"{shown}; not analysed: {', '.join(parts)}", rule, related=tuple(names))
    # a gap when there is no default
    if policy.default is None:
        answer, candidate = search([z3.Not(translation.true[r.when.node_id]) for r in policy.rules],
                                   lambda item: _matches_nothing(classifier, item))
        if answer == "sat":
            if candidate is not None:
                findings.append(Finding("gap", "error", "some valid items match no rule, and the policy has no default",
                                        policy.span, policy.name, witness=candidate,
                                        hint="add a default outcome, or a rule for such items"))
            else:
                findings.append(Finding("not-analysed", "info", "items that match no rule may exist; not analysed: "
                                        + ", ".join(sorted(set(translation.unanalysed.values()))), policy.span, policy.name))
    # rules whose conditions the solver could not model
    for rule in policy.rules:
        parts = translation.unanalysed_in(rule)
        if parts and rule.id not in dead:
            finding("not-analysed", "info", f"rule '{rule.id}' is only partly analysed; not modelled: {', '.join(parts)}",
                    rule)
    findings.extend(_unused(policy))
    findings.sort(key=lambda f: (f.span.file, f.span.line, f.span.column, f.code))
    return findings


def _core_reason(translation: Translation, rule: Rule | Condition, timeout_ms: int, given: tuple[Any, ...] = ()) -> str:
    """Which of a dead condition's parts contradict each other (or the declarations, or `given`)."""
    z3 = translation.z3
    root = rule.when if isinstance(rule, Rule) else rule
    leaves = [node for node in root.walk() if node.kind == "expr"]
    labels = [(z3.Bool(f"leaf:{node.node_id}"), node) for node in leaves]
    # assume each leaf is known true: the smallest set that cannot hold together is the reason
    check = z3.Solver()
    check.set("timeout", timeout_ms)
    check.add(*translation.valid, *given)
    for label, node in labels:
        check.assert_and_track(translation.true[node.node_id], label)
    if check.check() == z3.unsat:
        core = {str(label) for label in check.unsat_core()}
        texts = [f"`{node.text}`" for label, node in labels if str(label) in core]
        if len(texts) == 1:
            return f"{texts[0]} cannot hold for any valid item (given the declared inputs)"
        if texts:
            return " and ".join(texts) + " cannot all hold"
    return "its condition cannot hold for any valid item"


def _holds(classifier: Any, rule: Rule, item: dict[str, Any]) -> bool:
    """Whether `rule`'s condition is known true for `item` (false if the item is invalid, or the
    condition fails on it)."""
    from .compile import ConditionError
    from .errors import ItemError

    try:
        checked = classifier.check(item)
        return classifier.program.evaluate(rule.when, checked.values, checked.present, [None] * classifier.slots) is True
    except (ItemError, ConditionError):
        return False


def _why_first(policy: ClassificationPolicy, rule: Rule, winners: list[Rule]) -> tuple[str, str]:
    """How the rules that shadow `rule` come first (for the message), and how `rule` would come
    before them (the start of the hint): by their place in the file, or by their priority."""
    if policy.hit != "priority":
        return "earlier", "move it before"
    higher = [r for r in winners if (r.priority or 0) > (rule.priority or 0)]
    if not higher:
        return "earlier equal-priority", "move it before"
    if len(higher) == len(winners):
        return "higher-priority", "give it a higher priority than"
    return "higher- or equal-priority", "give it a higher priority than (or move it before those of its priority)"


def _fires_first_elsewhere(classifier: Any, rule: Rule, item: dict[str, Any]) -> bool:
    """The witness of a shadowed rule: its condition holds, yet another rule decides."""
    from .errors import ItemError

    try:
        decision = classifier.classify(item)
    except ItemError:
        return False
    return _holds(classifier, rule, item) and decision.rule not in (rule.id, None)


def _rejected_as_overlap(classifier: Any, first: Rule, second: Rule, item: dict[str, Any]) -> bool:
    """The witness of an overlap: classifying it is refused because both rules match."""
    from .errors import ItemError

    try:
        classifier.classify(item)
    except ItemError as error:
        return "all match" in error.message and f"'{first.id}'" in error.message and f"'{second.id}'" in error.message
    return False


def _matches_nothing(classifier: Any, item: dict[str, Any]) -> bool:
    from .errors import ItemError

    try:
        classifier.classify(item)
    except ItemError as error:
        return error.message.startswith("no rule matched")
    return False


def _unused(policy: ClassificationPolicy) -> Iterator[Finding]:
    read: set[str] = set()
    for rule in policy.rules:
        for node in rule.when.walk():
            if node.expr is not None:
                read.update(node.expr.reads)
                read.update(node.expr.presence)
    for spec in policy.inputs:
        covered = spec.name in read or any(name.startswith(spec.name + ".") for name in read) or \
            any(spec.name.startswith(name + ".") for name in read)
        if not covered:
            yield Finding("unused-input", "warning", f"input '{spec.name}' is declared but no rule reads it",
                          spec.span, policy.name, hint="remove it, or use it in a rule (items are still checked against it)")
    produced = {rule.outcome for rule in policy.rules} | ({policy.default.outcome} if policy.default else set())
    for outcome in policy.outcomes:
        if outcome.name not in produced:
            yield Finding("unused-outcome", "warning", f"outcome '{outcome.name}' is declared but no rule or default produces it",
                          outcome.span, policy.name)


# -- gates -------------------------------------------------------------------------------------


def lint_gates(policy: Any, timeout_ms: int = QUERY_MILLISECONDS) -> list[Finding]:
    """Findings about a gates policy: conditions no item the gates apply to can meet (so
    the gate can never be passed), gates that apply to no item, inputs no condition reads and
    roster groups no approval uses."""
    roots = ([policy.applies_to] if policy.applies_to is not None else []) + [
        condition.when for gate in policy.gates for condition in gate.conditions
    ]
    translation = Translation(tuple(policy.inputs) + tuple(policy.implicit), roots)
    z3 = translation.z3
    findings: list[Finding] = []
    applies: tuple[Any, ...] = ()

    def ask(*formulas: Any) -> str:
        check = z3.Solver()
        check.set("timeout", timeout_ms)
        check.add(*translation.valid, *formulas)
        result = check.check()
        return "sat" if result == z3.sat else "unsat" if result == z3.unsat else "unknown"

    if policy.applies_to is not None:
        root = policy.applies_to
        if ask(translation.true[root.node_id]) == "unsat":
            findings.append(Finding("gates-never-apply", "error",
                                    f"the gates apply to no item: {_core_reason(translation, root, timeout_ms)}",
                                    root.span, policy.name, hint="check 'applies_to' against the declared inputs"))
        else:
            applies = (translation.true[root.node_id],)
    for gate in policy.gates:
        for condition in gate.conditions:
            root = condition.when
            answer = ask(*applies, translation.true[root.node_id])
            if answer == "unsat":
                reason = _core_reason(translation, root, timeout_ms, applies)
                scope = " to which the gates apply" if applies else ""
                findings.append(Finding(
                    "gate-never-passes", "error",
                    f"gate to '{gate.to_stage}' can never be passed: condition '{condition.name}' holds for no item{scope} "
                    f"({reason})", condition.span, policy.name, rule=gate.id,
                    hint="check the condition against the inputs' declared types, enums and bounds"))
            elif answer == "unknown" or translation.unanalysed_in(root):
                parts = translation.unanalysed_in(root) or ["the solver gave no answer in time"]
                findings.append(Finding("not-analysed", "info",
                                        f"condition '{condition.name}' of the gate to '{gate.to_stage}' is only partly "
                                        f"analysed; not modelled: {', '.join(parts)}", condition.span, policy.name,
                                        rule=gate.id))
    read = set(policy.reads) | {evidence.field for gate in policy.gates for evidence in gate.require}
    for spec in policy.inputs:
        if not any(name == spec.name or name.startswith(spec.name + ".") or spec.name.startswith(name + ".") for name in read):
            findings.append(Finding("unused-input", "warning", f"input '{spec.name}' is declared but no condition reads it",
                                    spec.span, policy.name, hint="remove it, or use it in a condition"))
    used = {approval.group for gate in policy.gates for approval in gate.approvals}
    for index, (group, _) in enumerate(policy.roster):
        if group not in used:
            span = policy.group_spans[index] if index < len(policy.group_spans) else policy.span
            findings.append(Finding("unused-group", "warning", f"roster group '{group}' is declared but no approval uses it",
                                    span, policy.name))
    findings.sort(key=lambda f: (f.span.file, f.span.line, f.span.column, f.code))
    return findings


def lint_policy_set(policy_set: Any, timeout_ms: int = QUERY_MILLISECONDS) -> list[Finding]:
    """Every finding about every classification and gates policy of a checked policy set."""
    findings: list[Finding] = []
    for policy in policy_set.classifications:
        findings.extend(lint_classification(policy, timeout_ms))
    for policy in getattr(policy_set, "gate_policies", ()):
        findings.extend(lint_gates(policy, timeout_ms))
    return findings
