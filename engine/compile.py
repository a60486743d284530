"""Compile stage: a checked policy -> executable forms, each built once at load time.

Two forms run the same checked expressions:

* the interpreter: closures over the checked trees with three-valued logic (a condition that
  reads a missing field is unknown); it records every condition node's value and is used
  for items with missing data, for explanations and as the reference the fast form is
  tested against;
* the fast form: one Python function for the whole policy, generated from the checked trees
  and nothing else (field reads become locals, enum values are compared by identity, all
  other operations go through the sandbox helpers), that checks the item's declared inputs
  inline and evaluates the rules in hit-policy order. It handles the common case (every
  field it needs present and valid); anything else raises and the item takes the careful
  path. A second generated function does the same while capturing every condition node's
  value, for traces at nearly the same speed.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import sandbox
from .expressions import NUMERIC, Checked
from .inputs import ABSENT, convert, lookup
from .model import ClassificationPolicy, Condition, InputSpec, Rule
from .sandbox import UNKNOWN, Missing

# -- the interpreter ----------------------------------------------------------------------------

Evaluator = Callable[[Mapping[str, Any], Any], Any]


def interpreter(checked: Checked) -> Evaluator:
    """A function `(values, present) -> value or UNKNOWN` for a checked expression.

    `values` maps declared inputs to their checked values and lacks missing ones; `present`
    holds the inputs the item itself carried (for has()). Errors such as a division by zero
    propagate as Python exceptions for the caller to report.
    """
    return _Interpreter(checked).build(checked.tree)


class _Interpreter:
    def __init__(self, checked: Checked):
        self.checked = checked

    def build(self, node: ast.AST) -> Evaluator:
        return getattr(self, "build_" + type(node).__name__)(node)

    def build_Constant(self, node: ast.Constant) -> Evaluator:
        value = self.checked.constants.get(id(node), node.value)
        return lambda values, present: value

    def build_Name(self, node: ast.AST) -> Evaluator:
        ref = self.checked.refs[id(node)]
        name, subpath = ref.input, ref.subpath
        if not subpath:
            return lambda values, present: values.get(name, UNKNOWN)

        def read_field(values: Mapping[str, Any], present: Any) -> Any:
            container = values.get(name, UNKNOWN)
            if container is UNKNOWN:
                return UNKNOWN
            try:
                return sandbox.field_value(container, subpath)
            except Missing:
                return UNKNOWN

        return read_field

    build_Attribute = build_Name

    def build_List(self, node: ast.List | ast.Tuple | ast.Set) -> Evaluator:
        parts = [self.build(element) for element in node.elts]
        return lambda values, present: [part(values, present) for part in parts]

    build_Tuple = build_List
    build_Set = build_List

    def build_BoolOp(self, node: ast.BoolOp) -> Evaluator:
        parts = [self.build(value) for value in node.values]
        decisive = isinstance(node.op, ast.Or)  # the value that settles the result

        def kleene(values: Mapping[str, Any], present: Any) -> Any:
            unknown = False
            for part in parts:
                result = truth(part(values, present))
                if result is UNKNOWN:
                    unknown = True
                elif result is decisive:
                    return decisive
            return UNKNOWN if unknown else not decisive

        return kleene

    def build_UnaryOp(self, node: ast.UnaryOp) -> Evaluator:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda values, present: sandbox.logical_not(truth(operand(values, present)))
        negate = isinstance(node.op, ast.USub)

        def sign(values: Mapping[str, Any], present: Any) -> Any:
            value = operand(values, present)
            if value is UNKNOWN:
                return UNKNOWN
            sandbox.number_only(value)
            return -value if negate else +value

        return sign

    def build_BinOp(self, node: ast.BinOp) -> Evaluator:
        left, right = self.build(node.left), self.build(node.right)
        operate = sandbox.OPERATIONS[type(node.op)]

        def binary(values: Mapping[str, Any], present: Any) -> Any:
            a, b = left(values, present), right(values, present)
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            return operate(a, b)

        return binary

    def build_IfExp(self, node: ast.IfExp) -> Evaluator:
        test, body, orelse = self.build(node.test), self.build(node.body), self.build(node.orelse)

        def choose(values: Mapping[str, Any], present: Any) -> Any:
            condition = truth(test(values, present))
            if condition is UNKNOWN:
                return UNKNOWN
            return body(values, present) if condition else orelse(values, present)

        return choose

    def build_Subscript(self, node: ast.Subscript) -> Evaluator:
        base, key = self.build(node.value), self.build(node.slice)

        def subscript(values: Mapping[str, Any], present: Any) -> Any:
            container, index = base(values, present), key(values, present)
            if container is UNKNOWN or index is UNKNOWN:
                return UNKNOWN
            try:
                return sandbox.index_value(container, index)
            except Missing:
                return UNKNOWN

        return subscript

    def build_Compare(self, node: ast.Compare) -> Evaluator:
        first = self.build(node.left)
        steps = [(sandbox.COMPARISONS[type(op)], self.build(operand)) for op, operand in zip(node.ops, node.comparators)]

        def compare(values: Mapping[str, Any], present: Any) -> Any:
            left = first(values, present)
            unknown = False
            for operate, operand in steps:
                right = operand(values, present)
                if sandbox.unknown_in(left) or sandbox.unknown_in(right):
                    unknown = True
                elif not operate(left, right):
                    return False
                left = right
            return UNKNOWN if unknown else True

        return compare

    def build_Call(self, node: ast.Call) -> Evaluator:
        name = node.func.id  # type: ignore[attr-defined]
        if name == "has":
            ref = self.checked.refs[id(node.args[0])]
            target, subpath = ref.input, ref.subpath

            def has(values: Mapping[str, Any], present: Any) -> bool:
                if target not in present:
                    return False
                try:
                    sandbox.field_value(values[target], subpath)
                    return True
                except (Missing, TypeError):
                    return False

            return has
        if name == "matches":
            pattern = self.checked.regexes[id(node)]
            text = self.build(node.args[0])

            def match(values: Mapping[str, Any], present: Any) -> Any:
                value = text(values, present)
                return UNKNOWN if value is UNKNOWN else sandbox.regex_search(pattern, value)

            return match
        function = sandbox.FUNCTIONS[name]
        arguments = [self.build(argument) for argument in node.args]

        def call(values: Mapping[str, Any], present: Any) -> Any:
            args = [argument(values, present) for argument in arguments]
            if any(arg is UNKNOWN for arg in args):
                return UNKNOWN
            return function(*args)

        return call


def truth(value: Any) -> Any:
    """A condition's value as True, False or UNKNOWN; anything else is a type error."""
    if value is True or value is False or value is UNKNOWN:
        return value
    raise TypeError(f"a condition gave {sandbox.type_word_of(value)}, not true or false")


class ConditionError(Exception):
    """Evaluating one expression of a condition failed; names the expression."""

    def __init__(self, condition: Condition, error: BaseException):
        super().__init__(str(error))
        self.condition = condition
        self.error = error


class ConditionProgram:
    """Evaluates `when` trees three-valued, recording each node's value in a trace list."""

    def __init__(self, conditions: tuple[Condition, ...]):
        self.leaves: dict[int, Evaluator] = {
            condition.node_id: interpreter(condition.expr)
            for condition in conditions
            if condition.kind == "expr"
        }

    def evaluate(self, condition: Condition, values: Mapping[str, Any], present: Any, trace: list[Any]) -> Any:
        """True, False or UNKNOWN; `trace[node_id]` is set for every node evaluated."""
        kind = condition.kind
        if kind == "expr":
            try:
                result = truth(self.leaves[condition.node_id](values, present))
            except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as error:
                raise ConditionError(condition, error) from error
        elif kind == "const":
            result = bool(condition.value)
        elif kind == "not":
            result = sandbox.logical_not(self.evaluate(condition.children[0], values, present, trace))
        else:
            decisive = kind == "any"
            unknown = False
            result = not decisive
            for child in condition.children:
                value = self.evaluate(child, values, present, trace)
                if value is UNKNOWN:
                    unknown = True
                elif value is decisive:
                    result = decisive
                    break
            else:
                result = UNKNOWN if unknown else result
        trace[condition.node_id] = result
        return result


# -- the fast form ------------------------------------------------------------------------------


class Bail(Exception):
    """The fast form cannot decide this item; the careful path will."""


@dataclass(frozen=True, slots=True)
class FastForms:
    """The generated functions of one classification policy, and their source for review."""

    decide: Callable[[Any], Any]  # item -> rule number (0: none) or tuple of rule numbers
    decide_traced: Callable[[Any], tuple[Any, tuple[Any, ...]]]  # -> (result, node values)
    source: str


def rule_order(policy: ClassificationPolicy) -> tuple[Rule, ...]:
    """The order rules are tried in: file order, or highest priority first (ties: file order)."""
    if policy.hit == "priority":
        return tuple(sorted(policy.rules, key=lambda rule: (-(rule.priority or 0), rule.index)))
    return policy.rules


def generate(policy: ClassificationPolicy) -> FastForms:
    """Generate and compile the fast forms of a classification policy."""
    generator = _Generator(policy)
    source = generator.module()
    namespace = generator.namespace()
    code = compile(source, f"<policy {policy.name}>", "exec")
    exec(code, namespace)  # noqa: S102 - the source is built only from checked nodes, see _Generator
    return FastForms(namespace["decide"], namespace["decide_traced"], source)


_HELPERS: dict[str, Any] = {
    "Bail": Bail,
    "ABSENT": ABSENT,
    "type": type,
    "int": int,
    "float": float,
    "str": str,
    "tuple": tuple,
    "len": len,
    "INF": math.inf,
    "_convert": convert,
    "_lookup": lookup,
    "_lookup_or": lambda item, path, default: _lookup_or(item, path, default),
    "_field": sandbox.field_value,
    "_index": sandbox.index_value,
    "_contains": sandbox.contains,
    "_not_contains": sandbox.not_contains,
    "_num": sandbox.number_only,
    "_text": sandbox.text_only,
    "_search": sandbox.regex_search,
}

_NATIVE_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in"}
_NATIVE_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}


class _Generator:
    """Writes the fast forms' source. Every piece of it comes from a fixed template or from a
    checked node: names become locals (`v0`), constants become `repr`s of plain values or
    entries of the namespace, so nothing an author writes is pasted into the code."""

    def __init__(self, policy: ClassificationPolicy):
        self.policy = policy
        self.pool: dict[str, Any] = {}
        self.pool_ids: dict[tuple[str, Any], str] = {}
        self.locals: dict[str, str] = {}  # input name -> local variable
        self.canonical: dict[str, dict[str, str]] = {}  # enum input -> value -> pool name
        self.has_locals: dict[str, str] = {}
        self.read = {name for rule in policy.rules for name in rule.when.reads}
        self.tested = {
            name
            for rule in policy.rules
            for node in rule.when.walk()
            if node.expr is not None
            for name in node.expr.presence
        }

    def constant(self, value: Any, prefix: str = "K", shared: bool = True) -> str:
        """The namespace name holding `value`; equal values share a name unless `shared` is off
        (identity comparisons need the very object, not an equal one)."""
        key = (type(value).__name__, value if _hashable(value) else id(value))
        name = self.pool_ids.get(key) if shared else None
        if name is None:
            name = f"{prefix}{len(self.pool)}"
            self.pool[name] = value
            if shared:
                self.pool_ids[key] = name
        return name

    def namespace(self) -> dict[str, Any]:
        return {"__builtins__": {}, **_HELPERS, **self.pool}

    # -- module

    def module(self) -> str:
        loads = self.load_inputs()
        order = rule_order(self.policy)
        fast = self.function("decide", loads, order, traced=False)
        traced = self.function("decide_traced", loads, order, traced=True)
        return fast + "\n\n" + traced + "\n"

    def function(self, name: str, loads: list[str], order: tuple[Rule, ...], traced: bool) -> str:
        lines = [f"def {name}(it):"]
        lines += ["    " + line for line in loads]
        nodes = [f"n{c.node_id}" for c in self.policy.conditions]
        if traced and nodes:
            for chunk in range(0, len(nodes), 50):
                lines.append("    " + " = ".join(nodes[chunk:chunk + 50]) + " = None")
        trace = f"({', '.join(nodes)}{',' if len(nodes) == 1 else ''})" if traced else ""
        if self.policy.hit in ("first", "priority"):
            for rule in order:
                result = f"{rule.index}, {trace}" if traced else f"{rule.index}"
                lines.append(f"    if {self.condition(rule.when, traced)}:")
                lines.append(f"        return {result}")
            lines.append(f"    return 0, {trace}" if traced else "    return 0")
        else:
            lines.append("    hits = []")
            for rule in order:
                lines.append(f"    if {self.condition(rule.when, traced)}:")
                lines.append(f"        hits.append({rule.index})")
            lines.append(f"    return tuple(hits), {trace}" if traced else "    return tuple(hits)")
        return "\n".join(lines)

    # -- inputs

    def load_inputs(self) -> list[str]:
        lines: list[str] = []
        for number, spec in enumerate(self.policy.inputs):
            var = f"v{number}"
            self.locals[spec.name] = var
            lines.extend(self.load(spec, var))
        for number, name in enumerate(sorted(self.tested)):
            spec = self.policy.input(name)
            assert spec is not None
            var = f"h{number}"
            self.has_locals[name] = var
            lines.append(f"{var} = _lookup(it, {self.constant(spec.path, 'P')}) is not ABSENT")
        return lines

    def load(self, spec: InputSpec, var: str) -> list[str]:
        """Read one declared input into `var`, checked; raise Bail for anything unusual."""
        needed = spec.name in self.read
        default = self.constant(spec.default, "D") if spec.has_default else None
        if len(spec.path) == 1:
            key = repr(spec.name)
            if default is not None:
                fetch = f"it.get({key}, {default})"
            elif needed:
                fetch = f"it[{key}]"
            else:
                fetch = f"it.get({key}, ABSENT)"
        else:
            fetch = f"_lookup(it, {self.constant(spec.path, 'P')})"
            if default is not None:
                fetch = f"_lookup_or(it, {self.constant(spec.path, 'P')}, {default})"
        may_be_absent = default is None and (not needed or len(spec.path) > 1)
        check = self.check(spec, var)
        lines = []
        if spec.type == "string" and spec.enum is not None and not may_be_absent:
            # the enum table both checks the value and hands back the policy's own string, so
            # comparisons with enum values can be identity tests
            canonical = {value: value for value in spec.enum}
            table = self.constant(canonical, "E", shared=False)
            self.canonical[spec.name] = {value: self.constant(canonical[value], "C", shared=False) for value in spec.enum}
            return [f"{var} = {table}[{fetch}]"]
        lines.append(f"{var} = {fetch}")
        if not check:
            return lines
        if may_be_absent:
            if needed:
                lines.append(f"if {var} is ABSENT: raise Bail")
                lines += check
            else:
                lines.append(f"if {var} is not ABSENT:")
                lines += ["    " + line for line in check]
        else:
            lines += check
        return lines

    def check(self, spec: InputSpec, var: str) -> list[str]:
        kind = spec.type
        lines: list[str] = []
        if kind == "string":
            lines.append(f"if type({var}) is not str: raise Bail")
            if spec.enum is not None:
                lines.append(f"if {var} not in {self.constant(frozenset(spec.enum), 'S')}: raise Bail")
        elif kind == "integer":
            lines.append(f"if type({var}) is not int: raise Bail")
            lines += self.bounds(spec, var, finite=False)
        elif kind == "number":
            lines.append(f"if type({var}) is not float and type({var}) is not int: raise Bail")
            lines += self.bounds(spec, var, finite=True)
        elif kind == "boolean":
            lines.append(f"if {var} is not True and {var} is not False: raise Bail")
        else:
            # dates, lists and mappings are checked (and converted) by the careful checker itself
            lines.append(f"{var} = _convert({var}, {self.constant(spec, 'I')})")
            return lines
        if spec.enum is not None and kind != "string":
            lines.append(f"if {var} not in {self.constant(frozenset(spec.enum), 'S')}: raise Bail")
        return lines

    def bounds(self, spec: InputSpec, var: str, finite: bool) -> list[str]:
        low = f"{self.number(spec.minimum)} <= " if spec.minimum is not None else ("-INF < " if finite else "")
        high = f" <= {self.number(spec.maximum)}" if spec.maximum is not None else (" < INF" if finite else "")
        if not low and not high:
            return []
        return [f"if not ({low}{var}{high}): raise Bail"]

    def number(self, value: int | float) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            return self.constant(value)
        return repr(value)

    # -- conditions

    def condition(self, condition: Condition, traced: bool) -> str:
        kind = condition.kind
        if kind == "expr":
            code = self.expression(condition.expr, condition.expr.tree)
            if condition.expr.type.kind == "any":
                code = f"_truth({code})"
                self.pool["_truth"] = _fast_truth
        elif kind == "const":
            code = "True" if condition.value else "False"
        elif kind == "not":
            code = f"(not {self.condition(condition.children[0], traced)})"
        else:
            joiner = " and " if kind == "all" else " or "
            code = "(" + joiner.join(self.condition(child, traced) for child in condition.children) + ")"
        return f"(n{condition.node_id} := {code})" if traced else code

    def expression(self, checked: Checked, node: ast.AST) -> str:
        method = getattr(self, "emit_" + type(node).__name__)
        return method(checked, node)

    def emit_Constant(self, checked: Checked, node: ast.Constant) -> str:
        value = checked.constants.get(id(node), node.value)
        if isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
            return repr(value)
        return self.constant(value)

    def emit_Name(self, checked: Checked, node: ast.AST) -> str:
        ref = checked.refs[id(node)]
        var = self.locals[ref.input]
        if ref.subpath:
            return f"_field({var}, {self.constant(ref.subpath, 'P')})"
        return var

    emit_Attribute = emit_Name

    def emit_List(self, checked: Checked, node: ast.List | ast.Tuple | ast.Set) -> str:
        return "[" + ", ".join(self.expression(checked, element) for element in node.elts) + "]"

    emit_Tuple = emit_List
    emit_Set = emit_List

    def emit_BoolOp(self, checked: Checked, node: ast.BoolOp) -> str:
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        parts = [self.boolean(checked, value) for value in node.values]
        return "(" + joiner.join(parts) + ")"

    def boolean(self, checked: Checked, node: ast.AST) -> str:
        code = self.expression(checked, node)
        if self.type_of(checked, node) == "any":
            self.pool["_truth"] = _fast_truth
            return f"_truth({code})"
        return code

    def emit_UnaryOp(self, checked: Checked, node: ast.UnaryOp) -> str:
        if isinstance(node.op, ast.Not):
            return f"(not {self.boolean(checked, node.operand)})"
        operand = self.expression(checked, node.operand)
        if self.type_of(checked, node.operand) not in NUMERIC:
            operand = f"_num({operand})"
        return f"({'-' if isinstance(node.op, ast.USub) else '+'}{operand})"

    def emit_BinOp(self, checked: Checked, node: ast.BinOp) -> str:
        left, right = self.expression(checked, node.left), self.expression(checked, node.right)
        numeric = self.type_of(checked, node.left) in NUMERIC and self.type_of(checked, node.right) in NUMERIC
        symbol = _NATIVE_ARITHMETIC.get(type(node.op))
        if numeric and symbol is not None:
            return f"({left} {symbol} {right})"
        helper = self.constant(sandbox.OPERATIONS[type(node.op)], "F")
        return f"{helper}({left}, {right})"

    def emit_IfExp(self, checked: Checked, node: ast.IfExp) -> str:
        test = self.boolean(checked, node.test)
        return f"({self.expression(checked, node.body)} if {test} else {self.expression(checked, node.orelse)})"

    def emit_Subscript(self, checked: Checked, node: ast.Subscript) -> str:
        return f"_index({self.expression(checked, node.value)}, {self.expression(checked, node.slice)})"

    def emit_Compare(self, checked: Checked, node: ast.Compare) -> str:
        operands = [node.left, *node.comparators]
        pairs = []
        for index, op in enumerate(node.ops):
            pairs.append(self.pair(checked, operands[index], op, operands[index + 1]))
        if all(pair is not None and pair[0] == "native" for pair in pairs) and len(pairs) > 1:
            # a native chain evaluates each middle operand once, as Python does
            parts = [self.expression(checked, node.left)]
            for op, operand in zip(node.ops, node.comparators):
                parts += [_NATIVE_COMPARE[type(op)], self.expression(checked, operand)]
            return "(" + " ".join(parts) + ")"
        codes = [pair[1] for pair in pairs]  # type: ignore[index]
        return codes[0] if len(codes) == 1 else "(" + " and ".join(codes) + ")"

    def pair(self, checked: Checked, left: ast.AST, op: ast.cmpop, right: ast.AST) -> tuple[str, str]:
        """Code for one comparison: identity tests for enum values, native operators where
        the types are known, the sandbox's comparison otherwise."""
        identity = self.enum_identity(checked, left, op, right)
        if identity is not None:
            return "identity", identity
        left_code, right_code = self.expression(checked, left), self.expression(checked, right)
        left_type, right_type = self.type_of(checked, left), self.type_of(checked, right)
        if isinstance(op, (ast.In, ast.NotIn)):
            if right_type in ("array", "string") and left_type != "any" and not self.has_unknown_items(checked, right):
                if isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                    right_code = "(" + right_code[1:-1] + ("," if len(right.elts) == 1 else "") + ")"
                return "native", f"({left_code} {_NATIVE_COMPARE[type(op)]} {right_code})"
            helper = "_contains" if isinstance(op, ast.In) else "_not_contains"
            return "helper", f"{helper}({right_code}, {left_code})"
        if left_type != "any" and right_type != "any":
            return "native", f"({left_code} {_NATIVE_COMPARE[type(op)]} {right_code})"
        helper = self.constant(sandbox.COMPARISONS[type(op)], "F")
        return "helper", f"{helper}({left_code}, {right_code})"

    def has_unknown_items(self, checked: Checked, node: ast.AST) -> bool:
        return isinstance(node, (ast.List, ast.Tuple, ast.Set)) and any(
            self.type_of(checked, element) == "any" for element in node.elts
        )

    def enum_identity(self, checked: Checked, left: ast.AST, op: ast.cmpop, right: ast.AST) -> str | None:
        if not isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
            return None
        ref = checked.refs.get(id(left))
        if ref is None or ref.subpath or ref.input not in self.canonical:
            if isinstance(op, (ast.Eq, ast.NotEq)):
                ref = checked.refs.get(id(right))
                if ref is not None and not ref.subpath and ref.input in self.canonical:
                    return self.enum_identity(checked, right, op, left)
            return None
        table = self.canonical[ref.input]
        var = self.locals[ref.input]
        if isinstance(op, (ast.Eq, ast.NotEq)):
            if not (isinstance(right, ast.Constant) and right.value in table and isinstance(right.value, str)):
                return None
            return f"({var} {'is' if isinstance(op, ast.Eq) else 'is not'} {table[right.value]})"
        if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not right.elts:
            return None
        if not all(isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value in table for e in right.elts):
            return None
        names = [table[e.value] for e in right.elts]  # type: ignore[attr-defined]
        if isinstance(op, ast.In):
            return "(" + " or ".join(f"{var} is {name}" for name in names) + ")"
        return "(" + " and ".join(f"{var} is not {name}" for name in names) + ")"

    def emit_Call(self, checked: Checked, node: ast.Call) -> str:
        name = node.func.id  # type: ignore[attr-defined]
        if name == "has":
            ref = checked.refs[id(node.args[0])]
            present = self.has_locals[ref.input]
            if not ref.subpath:
                return present
            helper = self.constant(_has_field, "F")
            return f"({present} and {helper}({self.locals[ref.input]}, {self.constant(ref.subpath, 'P')}))"
        if name == "matches":
            pattern = self.constant(checked.regexes[id(node)], "R")
            return f"_search({pattern}, {self.expression(checked, node.args[0])})"
        arguments = [self.expression(checked, argument) for argument in node.args]
        if name in ("lower", "upper") and self.type_of(checked, node.args[0]) == "string":
            return f"{arguments[0]}.{name}()"
        if name == "len" and self.type_of(checked, node.args[0]) in ("string", "array"):
            return f"len({arguments[0]})"
        helper = self.constant(sandbox.FUNCTIONS[name], "F")
        return f"{helper}({', '.join(arguments)})"

    def type_of(self, checked: Checked, node: ast.AST) -> str:
        """The static kind the checker gave a sub-expression."""
        typ = checked.types.get(id(node))
        return typ.kind if typ is not None else "any"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _lookup_or(item: Any, path: tuple[str, ...], default: Any) -> Any:
    value = lookup(item, path)
    return default if value is ABSENT else value


def _fast_truth(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise Bail


def _has_field(container: Any, path: tuple[str, ...]) -> bool:
    try:
        sandbox.field_value(container, path)
        return True
    except (Missing, TypeError):
        return False

