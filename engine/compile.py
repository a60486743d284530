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
  path. A second generated function does the same while recording the checked inputs it
  read; a third replays the rules over those recorded inputs to give every condition node's
  value (conditions are pure functions of the inputs), so a traced decision costs little
  more than an untraced one and the node values are computed only for traces someone reads.
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from . import sandbox
from .expressions import NUMERIC, Checked
from .inputs import ABSENT, convert, lookup
from .model import ClassificationPolicy, Condition, InputSpec, Rule
from .sandbox import UNKNOWN, Missing

# -- the interpreter ----------------------------------------------------------------------------

Evaluator = Callable[[Mapping[str, Any], Any], Any]


def interpreter(checked: Checked, as_of: _dt.date | None = None) -> Evaluator:
    """A function `(values, present) -> value or UNKNOWN` for a checked expression.

    `values` maps declared inputs to their checked values and lacks missing ones; `present`
    holds the inputs the item itself carried (for has()). `as_of` is the date days_since()
    counts to. Errors such as a division by zero propagate as Python exceptions for the
    caller to report.
    """
    return _Interpreter(checked, as_of).build(checked.tree)


def constant_failure(checked: Checked) -> list[tuple[ast.AST, BaseException]]:
    """The parts of a checked expression that fail whenever it is evaluated, whatever the item
    (`x / 0`, `10 ** 10 ** 10`, `len('a' * 10 ** 9)`), each with its error: every item that
    reaches the expression would be rejected. The outermost such parts only; a part an earlier
    one may skip (`x > 0 and x / 0 > 1`) is left to run time."""
    from .sandbox import LimitError

    interpreter = _Interpreter(checked)
    called = {id(node.func) for node in ast.walk(checked.tree) if isinstance(node, ast.Call)}
    failing: list[tuple[ast.AST, BaseException]] = []

    def constant(node: ast.AST) -> bool:
        # days_since() reads the run's as-of date, which validation does not know
        return not any((isinstance(inner, ast.Name) and id(inner) not in called)
                       or (isinstance(inner, ast.Call) and getattr(inner.func, "id", None) == "days_since")
                       for inner in ast.walk(node))

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call)) and constant(node):
            try:
                interpreter.build(node)({}, frozenset())
            except (ArithmeticError, ValueError, TypeError, LookupError, LimitError) as error:
                failing.append((node, error))
            return
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and constant(node.right):
            try:
                divisor = interpreter.build(node.right)({}, frozenset())
            except (ArithmeticError, ValueError, TypeError, LookupError, LimitError):
                divisor = None  # reported below, as a part of its own
            if type(divisor) in (int, float) and divisor == 0:  # `x / 0`: whatever x is
                failing.append((node, ZeroDivisionError()))
                return
        for child in _evaluated_first(node):
            visit(child)

    visit(checked.tree)
    return failing


def _evaluated_first(node: ast.AST) -> list[ast.AST]:
    """The parts of `node` evaluated whenever it is: not those an earlier part may skip (the
    branches of `a if c else b`, the operands of and / or after the first, the later links
    of a chained comparison)."""
    if isinstance(node, ast.IfExp):
        return [node.test]
    if isinstance(node, ast.BoolOp):
        return node.values[:1]
    if isinstance(node, ast.Compare):
        return [node.left, node.comparators[0]]
    return list(ast.iter_child_nodes(node))


class _Interpreter:
    def __init__(self, checked: Checked, as_of: _dt.date | None = None):
        self.checked = checked
        self.as_of = as_of

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
        if name == "days_since":
            moment, as_of = self.build(node.args[0]), self.as_of

            def since(values: Mapping[str, Any], present: Any) -> Any:
                value = moment(values, present)
                return UNKNOWN if value is UNKNOWN else sandbox.days_since(value, as_of)

            return since
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

    def __init__(self, conditions: tuple[Condition, ...], as_of: _dt.date | None = None):
        self.leaves: dict[int, Evaluator] = {
            condition.node_id: interpreter(condition.expr, as_of)
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
    # item -> Recorded(verdict, each input's checked value or ABSENT as v0.., each has() as h0..)
    decide_traced: Callable[[Any], Any]
    # what decide_traced recorded -> each condition node's value (None: not evaluated)
    replay: Callable[[Any], tuple[Any, ...]]
    source: str
    # items -> one verdict (or what `careful` returns) per item: the loop is part of the code
    decide_many: Callable[[Any, Callable[[Any], Any]], list[Any]] | None = None
    # item -> its verdict; `careful(item)` for an item the code declines
    decide_verdict: Callable[[Any], Any] | None = None
    # for policies whose inputs are all top-level text, numbers and booleans: the same rules
    # over a record decoded and checked while parsing (jsonio.record_decoder of record_fields)
    decide_record: Callable[[Any], Any] | None = None
    record_fields: tuple[Any, ...] | None = None
    # the verdict and traced forms for items lacking an optional input that a rule reads (the
    # others decline those); `decide_tolerant` is `careful` where the policy has no such input
    decide_tolerant: Callable[[Any], Any] | None = None
    decide_traced_tolerant: Callable[[Any], Any] | None = None
    decide_many_tolerant: Callable[[Any, Callable[[Any], Any]], list[Any]] | None = None
    # the source and namespace of each module the record forms were made of, in order: the
    # tolerant one (if any) defines `decide_record_tolerant`, which the strict one calls
    record_modules: tuple[tuple[str, dict[str, Any]], ...] = ()
    # the numbers of the inputs a rule reads outside a has() that an item may lack (see optional_reads)
    optional_reads: tuple[int, ...] = ()


def optional_reads(policy: ClassificationPolicy, exposed: Mapping[int, set[str]]) -> tuple[int, ...]:
    """The numbers of the inputs a rule reads, outside a has() of them (`exposed`, see
    exposure), that an item may lack (optional, no default)."""
    read = set().union(*exposed.values())
    return tuple(number for number, spec in enumerate(policy.inputs)
                 if spec.name in read and not spec.required and not spec.has_default)


def exposure(policy: ClassificationPolicy) -> dict[int, set[str]]:
    """Each rule's (by number) exposed_reads."""
    return {rule.index: exposed_reads(rule.when) for rule in policy.rules}


def rule_order(policy: ClassificationPolicy) -> tuple[Rule, ...]:
    """The order rules are tried in: file order, or highest priority first (ties: file order)."""
    if policy.hit == "priority":
        return tuple(sorted(policy.rules, key=lambda rule: (-(rule.priority or 0), rule.index)))
    return policy.rules


def generate(policy: ClassificationPolicy, verdicts: Sequence[Any], settle: Callable[[tuple[int, ...]], Any],
             careful: Callable[[Any], Any], declined: Callable[[Any], Any] | None = None,
             as_of: _dt.date | None = None) -> FastForms:
    """Generate and compile the fast forms of a classification policy.

    `verdicts[k]` is what rule number k decides (0: the default, None if there is none); the
    verdict forms return those objects, turn the matches of `unique` and `collect` into a
    verdict with `settle(hits)`, and hand an item they decline to `careful(item)`; the first
    verdict forms hand it to `declined(item)` if given (which is to call `decide_tolerant`).
    days_since() counts to `as_of`.
    """
    # items lacking an optional input that a rule reads go to second forms, which test for its
    # absence; the first need no such test, so complete items pay nothing for it, and they read
    # those inputs first, so an item lacking one costs them little before it is handed on
    tolerant: Callable[[Any], Any] = careful
    tolerant_traced: Callable[[Any], Any] | None = None
    tolerant_batch: Callable[[Any, Callable[[Any], Any]], list[Any]] | None = None
    tolerant_source = ""
    exposed = exposure(policy)
    optional = optional_reads(policy, exposed)
    if optional:
        tolerant_generator = _Generator(policy, verdicts=verdicts, tolerant=True, as_of=as_of, exposed=exposed)
        loads, order = tolerant_generator.load_inputs(), rule_order(policy)
        tolerant_source = "\n\n" + "\n\n".join(tolerant_generator.verdict_function(loads, order, form)
                                                for form in ("single", "traced", "batch"))
        tolerant_namespace = _run(tolerant_source, tolerant_generator, policy, settle=settle, careful=careful)
        tolerant, tolerant_traced = tolerant_namespace["decide_verdict"], tolerant_namespace["decide_traced"]
        tolerant_batch = tolerant_namespace["decide_many"]
    generator = _Generator(policy, verdicts=verdicts, as_of=as_of, exposed=exposed)
    source = generator.module()
    namespace = _run(source, generator, policy, settle=settle, careful=declined or tolerant)
    forms = FastForms(namespace["decide"], namespace["decide_traced"], namespace["replay"], source + tolerant_source,
                      namespace["decide_many"], namespace["decide_verdict"], decide_tolerant=tolerant,
                      decide_traced_tolerant=tolerant_traced, decide_many_tolerant=tolerant_batch,
                      optional_reads=optional)
    fields = record_fields(policy)
    if fields is None:
        return forms
    # as above: a record lacking an optional input that a rule reads goes to a second form,
    # which tests for its absence, so complete records pay one test for it
    modules: list[tuple[str, dict[str, Any]]] = []
    tolerant_record = {}
    if optional:
        tolerant_generator = _Generator(policy, record=True, tolerant=True, as_of=as_of, exposed=exposed)
        tolerant_source = tolerant_generator.function("decide_record_tolerant", tolerant_generator.load_inputs(),
                                                      rule_order(policy)) + "\n"
        modules.append((tolerant_source, _run(tolerant_source, tolerant_generator, policy)))
        tolerant_record = {"decide_record_tolerant": modules[-1][1]["decide_record_tolerant"]}
    record_generator = _Generator(policy, record=True, as_of=as_of, exposed=exposed)
    if tolerant_record:
        record_generator.on_absent = "return decide_record_tolerant(it)"
    strict_source = record_generator.module()
    modules.append((strict_source, _run(strict_source, record_generator, policy, **tolerant_record)))
    return replace(forms, source="\n".join([forms.source, *(module for module, _ in modules)]),
                   decide_record=modules[-1][1]["decide_record"], record_fields=fields, record_modules=tuple(modules))


def _run(source: str, generator: _Generator, policy: ClassificationPolicy, **extra: Any) -> dict[str, Any]:
    namespace = {**generator.namespace(), **extra}
    code = compile(source, f"<policy {policy.name}>", "exec")
    exec(code, namespace)  # noqa: S102 - the source is built only from checked nodes, see _Generator
    return namespace


@dataclass(frozen=True, slots=True)
class StandaloneDecide:
    """The `decide` form of a policy as source and plain data, runnable without the engine:
    `exec` the source in `{"__builtins__": {}, "Bail": <an exception class>, "ABSENT": <a
    sentinel>, "INF": math.inf, "type": type, ...builtins named in PLAIN_NAMES, **constants}`,
    then point each canonical enum name at its table's entry (`namespace[name] =
    namespace[table][value]` for `name, table, value` in `canonical`): comparisons with enum
    values are identity tests, and data read back from storage are new objects."""

    source: str
    constants: dict[str, Any]
    canonical: tuple[tuple[str, str, str], ...]


# the builtins and constants `decide` may use to be standalone, and the only attribute names
# its templates write (dict.get for inputs with defaults, str.lower/upper)
PLAIN_NAMES = ("Bail", "ABSENT", "INF", "type", "int", "bool", "float", "str", "tuple", "len")
_PLAIN_METHODS = ("get", "lower", "upper")


def standalone_decide(policy: ClassificationPolicy) -> StandaloneDecide | None:
    """The `decide` form of a first or priority hit policy whose generated code needs only
    builtins and plain constants (no sandbox helper, nested field, date or pattern), for the
    command's start-up cache; None for any other policy."""
    if policy.hit not in ("first", "priority") or policy.reads_as_of:
        return None
    generator = _Generator(policy)
    source = generator.function("decide", generator.load_inputs(), rule_order(policy))
    module = compile(source, f"<policy {policy.name}>", "exec")
    function = next(const for const in module.co_consts if hasattr(const, "co_names"))
    constants: dict[str, Any] = {}
    for name in function.co_names:
        if name in PLAIN_NAMES or name in _PLAIN_METHODS:
            continue
        if name not in generator.pool or not _plain(generator.pool[name]):
            return None
        constants[name] = generator.pool[name]
    canonical = tuple(
        (name, table_name, key)
        for table_name, table in constants.items() if type(table) is dict
        for key, value in table.items()
        for name in constants if constants[name] is value and name != table_name
    )
    return StandaloneDecide(source, constants, canonical)


def _plain(value: Any) -> bool:
    """Data that survives storage as it is: text, numbers, booleans, None, and containers of them."""
    if value is None or type(value) in (str, int, float, bool):
        return True
    if type(value) in (tuple, list, frozenset):
        return all(_plain(item) for item in value)
    if type(value) is dict:
        return all(_plain(key) and _plain(item) for key, item in value.items())
    return False


RECORD_KINDS = ("string", "integer", "number", "boolean")


def record_groups(policy: ClassificationPolicy) -> dict[tuple[str, ...], str]:
    """The nested records of a policy's typed record: each path that holds nested inputs
    (`service` for `service.tier`) -> the attribute its record sits at in its parent."""
    groups: dict[tuple[str, ...], str] = {}
    for spec in policy.inputs:
        for depth in range(1, len(spec.path)):
            groups.setdefault(spec.path[:depth], f"g{len(groups)}")
    return groups


def record_fields(policy: ClassificationPolicy) -> tuple[Any, ...] | None:
    """The typed record (jsonio.RecordField) an item of this policy decodes into, or None
    when its inputs need the general checker: dates and date-times limited to an enum, lists of lists,
    enums of fractional numbers, a mapping read whole that also holds declared inputs, or
    has() of an input with a default, which a decoded record cannot tell from an absent one. Inputs
    nested in mappings are fields of nested records; a flat key written with dots for one of
    them (which the checker also reads) hands the line to the general path."""
    from .jsonio import REQUIRED, UNSET, RecordField

    expressions = [node.expr for rule in policy.rules for node in rule.when.walk() if node.expr is not None]
    tested = {name for expr in expressions for name in expr.presence}
    read = {name for expr in expressions for name in expr.reads}
    groups = record_groups(policy)
    top: list[Any] = []
    nested: dict[tuple[str, ...], list[Any]] = {prefix: [] for prefix in groups}
    required_groups: set[tuple[str, ...]] = set()
    for number, spec in enumerate(policy.inputs):
        if spec.path in groups:  # a mapping holding declared inputs: its record stands for it
            if spec.type != "object" or spec.name in read or spec.name in tested or spec.enum is not None:
                return None
            if spec.required:
                required_groups.add(spec.path)
            continue
        # null counts as absent: an optional input reads as None either way; null for one with
        # a default is left to the second decoder (jsonio.lax_record_decoder), except for a
        # date-time, whose text the generated code parses (and so puts the default in)
        if spec.has_default:
            if spec.name in tested:
                return None
            default = UNSET if spec.type == "datetime" else spec.default  # its text is parsed by the code
        else:
            default = REQUIRED if spec.required else None
        kind, element = _record_kind(spec), None
        if kind is None:
            return None
        if kind == "list" and spec.items is not None:
            element = RecordField("", "", _record_kind(spec.items) or "", _record_enum(spec.items), spec.items.minimum,
                                  spec.items.maximum)
            if element.kind not in RECORD_KINDS:
                return None
        field = RecordField(spec.path[-1], f"f{number}", kind, _record_enum(spec), spec.minimum, spec.maximum, default,
                            element, nullable=not spec.required and (not spec.has_default or spec.type == "datetime"))
        if len(spec.path) == 1:
            top.append(field)
            continue
        nested[spec.path[:-1]].append(field)
        top.append(RecordField(spec.name, f"x{number}", "never", default=UNSET))
    for prefix in sorted(groups, key=len, reverse=True):  # the deepest first: they are fields of the others
        fields = tuple(nested[prefix])
        required = prefix in required_groups or any(field.default is REQUIRED for field in fields)
        record = RecordField(prefix[-1], groups[prefix], "record", default=REQUIRED if required else UNSET, fields=fields)
        (nested[prefix[:-1]] if len(prefix) > 1 else top).append(record)
    return tuple(top)


def _record_kind(spec: InputSpec) -> str | None:
    """What a decoded record holds for an input of this declaration, None if it cannot."""
    if spec.type in RECORD_KINDS:
        if spec.enum is None or spec.type == "string":
            return spec.type
        return "integer" if spec.type == "integer" and _record_enum(spec) else None
    if spec.enum is not None or spec.minimum is not None or spec.maximum is not None:
        return None
    return {"date": "date", "datetime": "datetime", "array": "list", "object": "object"}.get(spec.type)


def _record_enum(spec: InputSpec) -> tuple[Any, ...] | None:
    """The enum a record checks: text values, or an integer's whole numbers within its bounds."""
    if spec.enum is None or spec.type != "integer":
        return spec.enum
    low, high = spec.minimum, spec.maximum
    return tuple(option for option in spec.enum if type(option) is int and (low is None or option >= low)
                 and (high is None or option <= high))


# a policy of many rules reads its constants as globals, so that a call binds no thousands of names
_MAX_BOUND_LOCALS = 200

_HELPERS: dict[str, Any] = {
    "Bail": Bail,
    "Exception": Exception,
    "ABSENT": ABSENT,
    "EMPTY": {},  # what a nested field's parent is read as where it is not a mapping; never written to
    "type": type,
    "int": int,
    "bool": bool,
    "float": float,
    "str": str,
    "tuple": tuple,
    "len": len,
    "INF": math.inf,
    "dict": dict,
    "list": list,
    "map": map,
    "_date": _dt.date.fromisoformat,
    "_datetime": sandbox.datetime_value,
    "_convert": convert,
    "_lookup": lookup,
    "_field": sandbox.field_value,
    "_index": sandbox.index_value,
    "_contains": sandbox.contains,
    "_not_contains": sandbox.not_contains,
    "_num": sandbox.number_only,
    "_text": sandbox.text_only,
    "_search": sandbox.regex_search,
}

_PYTHON_TYPE = {"string": str, "boolean": bool, "integer": int}

# whole numbers up to 2**53 are exactly representable as floats
_EXACT_FLOAT_LIMIT = 2**53

# the types of values whose membership in a list of constants is a lookup in a frozenset
_HASHED_TYPES = frozenset({"string", "integer", "number", "boolean", "date", "datetime"})
_NATIVE_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in"}
_NATIVE_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}


class _Generator:
    """Writes the fast forms' source. Every piece of it comes from a fixed template or from a
    checked node: names become locals (`v0`), constants become `repr`s of plain values or
    entries of the namespace, so nothing an author writes is pasted into the code."""

    def __init__(self, policy: ClassificationPolicy, record: bool = False, verdicts: Sequence[Any] = (),
                 tolerant: bool = False, as_of: _dt.date | None = None, exposed: dict[int, set[str]] | None = None):
        self.policy = policy
        self.as_of = as_of  # the date days_since() counts to
        self.tolerant = tolerant  # decide items that lack optional inputs instead of declining them
        self.record = record  # read a checked record's attributes instead of an item's fields
        self.groups = record_groups(policy) if record else {}
        self.on_absent = "raise Bail"
        self.deferred: dict[str, list[str]] = {}  # a record's inputs not read yet -> the statements reading them
        self.verdicts = verdicts
        self.pool: dict[str, Any] = {}
        self.pool_ids: dict[tuple[str, Any], str] = {}
        self.locals: dict[str, str] = {}  # input name -> local variable
        self.canonical: dict[str, dict[str, str]] = {}  # enum input -> value -> pool name
        self.has_locals: dict[str, str] = {}
        self.parents: dict[tuple[str, ...], str] = {}  # a nested input's parent mapping -> its local
        self.views: dict[str, str] = {}  # a parent's local -> the local of it as a mapping (see nested_read)
        self.exposed = exposed if exposed is not None else exposure(policy)  # see rule_test
        self.read = set().union(*self.exposed.values())
        self.tested = {
            name
            for rule in policy.rules
            for node in rule.when.walk()
            if node.expr is not None
            for name in node.expr.presence
        }
        self.absent: dict[str, tuple[str, str]] = {}  # input that may be absent -> (its local, what absence reads as)
        # a read of an absent input is unknown, and a rule fires only when its condition is
        # true; a plain leaf is read as known true (under a `not`: as not known false), which
        # keeps that exact (see guarded_expression). A rule with other leaves is evaluated by
        # the careful path's interpreter where an item lacks an input it reads (see rule_test;
        # `guarded` holds the plain leaves, `interpreted` those rules).
        self.guarded: dict[int, bool] = {}  # plain leaf -> whether it is under a `not`
        self.declined_when_absent: set[str] = set()
        # rules the careful path's interpreter evaluates where an input they read is absent
        self.interpreted: set[int] = set()
        self.program: ConditionProgram | None = None
        if tolerant:
            for rule in policy.rules:
                # a guarded leaf reads as false where the careful path has unknown, and unknown
                # does not end an `all`: the careful path evaluates the rest, which must not be
                # able to fail, so a rule with any leaf that can (arithmetic, patterns) has none:
                # its condition is evaluated as the careful path does, over the checked values
                if all(_plain_leaf(node.expr) for node in rule.when.walk() if node.expr is not None):
                    self._sort_leaves(rule.when, negated=False)
                else:
                    self.interpreted.add(rule.index)
        else:  # the common case first: every input a rule reads is there, with no test for absence
            self.declined_when_absent = set(self.read)

    def _sort_leaves(self, condition: Condition, negated: bool) -> None:
        if condition.kind == "expr":
            if _plain_leaf(condition.expr):
                self.guarded[condition.node_id] = negated
            else:
                self.declined_when_absent.update(condition.expr.reads)
        for child in condition.children:
            self._sort_leaves(child, negated != (condition.kind == "not"))

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
        namespace = {"__builtins__": {}, **_HELPERS, **self.pool}
        if self.record:
            from .jsonio import UNSET

            namespace["UNSET"] = UNSET
        else:
            # what a traced decision records; one per decision, so a record the garbage
            # collector does not track (it holds item values, and nothing in them refers back)
            namespace["Recorded"] = msgspec.defstruct("Recorded", ["verdict", *self.recorded_names()], gc=False)
        return namespace

    # -- module

    def module(self) -> str:
        loads = self.load_inputs()
        order = rule_order(self.policy)
        if self.record:
            return self.function("decide_record", loads, order) + "\n"
        fast = self.function("decide", loads, order)
        traced = self.verdict_function(loads, order, form="traced")
        replay = self.replay_function(order)
        single = self.verdict_function(loads, order, form="single")
        batch = self.verdict_function(loads, order, form="batch")
        return "\n\n".join((fast, traced, replay, single, batch)) + "\n"

    def recorded_names(self) -> list[str]:
        """The locals a traced decision records: every input's checked value, then each has()
        that the value does not tell (see derived_presence)."""
        return [f"v{number}" for number in range(len(self.policy.inputs))] + [
            self.has_locals[name] for name in sorted(self.tested) if self.derived_presence(name) is None
        ]

    def derived_presence(self, name: str) -> str | None:
        """has() of an input without a default, from its recorded value: every form reads it as
        None (a flat one) or ABSENT (a nested one) where the item lacks it, and declines an
        item holding null for it or lacking it where it cannot; None for an input with a
        default, whose value does not tell (and a record holds fewer fields, so builds faster)."""
        number, spec = next((number, spec) for number, spec in enumerate(self.policy.inputs) if spec.name == name)
        if spec.has_default:
            return None
        return f"v{number} is not {'None' if len(spec.path) == 1 else 'ABSENT'}"

    def verdict_function(self, loads: list[str], order: tuple[Rule, ...], form: str) -> str:
        """The rules of `decide`, giving each rule's verdict object: `decide_verdict(it)`;
        `decide_many(items, careful)` with the loop over the items inside; or
        `decide_traced(it)`, which gives `Recorded(verdict, *recorded_names)`. The first two hand an
        item the code declines to `careful`; `decide_traced` lets the exception out."""
        if form == "batch":
            lines = ["def decide_many(items, careful):", "    out = []", "    append = out.append", "    for it in items:",
                     "        try:"]
            indent, give, after = "            ", "append({})", ["continue"]
        elif form == "single":
            lines = ["def decide_verdict(it):", "    try:"]
            indent, give, after = "        ", "return {}", []
        else:
            lines = ["def decide_traced(it):"]
            # an item lacking an input that a rule reads is decided here too; its trace, with the
            # unknowns, is the careful path's (see Classifier.unpack)
            indent, give, after = "    ", "return Recorded(" + ", ".join(["{}", *self.recorded_names()]) + ")", []
        lines += [indent + line for line in loads]
        results = [self.constant(verdict, "V", shared=False) if verdict is not None else None for verdict in self.verdicts]
        if self.policy.hit in ("first", "priority"):
            for rule in order:
                lines.append(f"{indent}if {self.rule_test(rule)}:")
                lines += [f"{indent}    {give.format(results[rule.index])}"] + [f"{indent}    {line}" for line in after]
            # without a default, the careful path says why no rule matched
            lines.append(indent + (give.format(results[0]) if results and results[0] else "raise Bail"))
        else:
            lines.append(f"{indent}hits = []")
            for rule in order:
                lines.append(f"{indent}if {self.rule_test(rule)}:")
                lines.append(f"{indent}    hits.append({rule.index})")
            lines.append(indent + give.format("settle(tuple(hits))"))
        if form != "traced":
            handler = "    " if form == "single" else "        "
            lines += [f"{handler}except Exception:", f"{handler}    {give.format('careful(it)')}"]
        if form == "batch":
            lines.append("    return out")
            lines[1:] = self.binding_locals(lines[1:])
        return "\n".join(lines)

    def binding_locals(self, body: list[str]) -> list[str]:
        """`body` (a loop over many items) reading the constants and helpers it names as locals,
        unpacked from one tuple as the function starts: a few percent faster than reading them
        as globals (3% to 8% on the benchmark's policy), for about 2 ns a name a call. (Only in a form compiled with its constants in
        place: the cached `decide` rebinds enum names after it is compiled.)"""
        names = sorted({name for line in body for name in re.findall(r"[A-Za-z_]\w*", line)
                        if name in self.pool or name in _HELPERS})
        if not names or len(names) > _MAX_BOUND_LOCALS:
            return body
        bound = self.constant(tuple(self.pool[name] if name in self.pool else _HELPERS[name] for name in names),
                              "B", shared=False)
        return [f"    {', '.join(names)}, = {bound}", *body]

    def replay_function(self, order: tuple[Rule, ...]) -> str:
        """`replay(recorded)`: each condition node's value, from what `decide_traced` recorded.
        Conditions are pure functions of the checked inputs, so evaluating the same rules over
        the recorded values again gives exactly the values the decision saw; recording only the
        inputs keeps a traced decision nearly as cheap as an untraced one."""
        lines = ["def replay(recorded):"] + [f"    {name} = recorded.{name}" for name in self.recorded_names()]
        lines += [f"    {self.has_locals[name]} = {derived}" for name in sorted(self.tested)
                  if (derived := self.derived_presence(name)) is not None]
        nodes = [f"n{c.node_id}" for c in self.policy.conditions]
        for chunk in range(0, len(nodes), 50):
            lines.append("    " + " = ".join(nodes[chunk:chunk + 50]) + " = None")
        if self.policy.hit in ("first", "priority"):
            # the first rule that holds ends the loop, which runs once: one return of every
            # node, not one a rule (with a thousand rules, a million names to compile)
            lines.append("    while True:")
            for rule in order:
                lines += [f"        if {self.condition(rule.when, True)}:", "            break"]
            lines.append("        break")
        else:
            lines += [f"    {self.condition(rule.when, True)}" for rule in order]
        lines.append("    return (" + "".join(f"{node}, " for node in nodes) + ")")
        return "\n".join(lines)

    def function(self, name: str, loads: list[str], order: tuple[Rule, ...]) -> str:
        """`decide(it)` (or `decide_record`): the number of the deciding rule (0: none), or for
        `unique` and `collect` the tuple of matching rule numbers."""
        lines = [f"def {name}(it):"]
        lines += ["    " + line for line in loads]
        single = self.policy.hit in ("first", "priority")
        if not single:
            lines.append("    hits = []")
        for rule in order:
            lines += ["    " + line for line in self.deferred_loads(rule)]
            lines.append(f"    if {self.rule_test(rule)}:")
            lines.append(f"        return {rule.index}" if single else f"        hits.append({rule.index})")
        lines.append("    return 0" if single else "    return tuple(hits)")
        return "\n".join(lines)

    def deferred_loads(self, rule: Rule) -> list[str]:
        """The reads of a record's attributes that this rule is the first to need (a record is
        checked already, so each attribute is read only where the rules come to need it)."""
        needed = {name for node in rule.when.walk() if node.expr is not None
                  for name in (*node.expr.reads, *node.expr.presence)}
        return [line for spec in self.policy.inputs if spec.name in needed
                for line in self.deferred.pop(spec.name, ())]

    # -- inputs

    def load_inputs(self) -> list[str]:
        """Statements that read every declared input into a local and check it; the checks are
        one condition, so a clean item pays a single test and anything else raises Bail."""
        lines: list[str] = []
        conditions: list[str] = []
        whole: list[str] = []  # inputs that must be whole numbers: one chained type test
        inputs = list(enumerate(self.policy.inputs))
        if not self.tolerant:  # an item lacking an optional input a rule reads is declined at once
            inputs.sort(key=lambda entry: not (entry[1].name in self.read and not entry[1].required
                                               and not entry[1].has_default))
        for number, spec in inputs:
            var = f"v{number}"
            self.locals[spec.name] = var
            if self.record:
                self.deferred[spec.name] = self.load_attribute(spec, var, number)
                continue
            statements, checks = self.load(spec, var, whole)
            lines.extend(statements)
            conditions.extend(checks)
        if self.record:
            for name in sorted(self.tested):
                self.has_locals[name] = f"({self.locals[name]} is not None)"
            # a date-time's text is parsed, and so checked, whether or not a rule comes to read it
            lines += [line for spec in self.policy.inputs if spec.type == "datetime"
                      for line in self.deferred.pop(spec.name, ())]
            declines = self.decline_absent(self.declined_when_absent)
            if declines:  # the inputs its test reads come first
                lines += [line for spec in self.policy.inputs if spec.name in self.declined_when_absent
                          and spec.name in self.absent for line in self.deferred.pop(spec.name, ())]
            return lines + declines
        if whole:
            conditions.insert(0, " is ".join(f"type({var})" for var in whole) + " is int")
        if conditions:
            lines.append("if not (" + " and ".join(conditions) + "): raise Bail")
        lines += self.decline_absent(self.declined_when_absent)
        for number, name in enumerate(sorted(self.tested)):
            spec = self.policy.input(name)
            assert spec is not None
            var = f"h{number}"
            self.has_locals[name] = var
            lines.append(f"{var} = {self.presence(spec)}")
        return lines

    def presence(self, spec: InputSpec) -> str:
        """Whether the item carries the input (null counts as absent), as the checker's lookup
        tells: from its loaded value where absence reads as a marker of its own, else read."""
        if spec.name in self.absent:
            var, marker = self.absent[spec.name]
            return f"{var} is not {marker}"
        if len(spec.path) == 1:  # the value read is its default where absent: ask the item
            return f"it.get({spec.name!r}) is not None"
        return f"_lookup(it, {self.constant(spec.path, 'P')}) is not ABSENT"

    def decline_absent(self, names: set[str]) -> list[str]:
        """Statements handing an item that lacks any of these optional inputs on (`on_absent`:
        to the careful path, or to a form that decides it)."""
        tests = [" is ".join(self.absent[spec.name]) for spec in self.policy.inputs if spec.name in names and spec.name in self.absent]
        return [f"if {' or '.join(tests)}: {self.on_absent}"] if tests else []

    def load_attribute(self, spec: InputSpec, var: str, number: int) -> list[str]:
        """Read one input from a decoded record (see record_fields), whose decoder has checked
        it already; a mapping holding declared inputs is not read (no rule reads it whole)."""
        groups = self.groups
        if spec.path in groups:
            return []
        parents = "".join(f".{groups[spec.path[:depth]]}" for depth in range(1, len(spec.path)))
        read = f"it{parents}.f{number}"
        if spec.required:
            return [f"{var} = _datetime({read})" if spec.type == "datetime" else f"{var} = {read}"]
        if not spec.has_default:  # absent and null both read as None
            self.absent[spec.name] = (var, "None")
            if spec.type == "datetime":
                return [f"{var} = {read}", f"if {var} is not None: {var} = _datetime({var})"]
            return [f"{var} = {read}"]
        if spec.type == "datetime":  # the record holds no default for it (see record_fields)
            default = self.constant(spec.default, "D")
            return [f"{var} = {read}", f"{var} = {default} if {var} is None or {var} is UNSET else _datetime({var})"]
        return [f"{var} = {read}"]

    def load(self, spec: InputSpec, var: str, whole: list[str]) -> tuple[list[str], list[str]]:
        """Statements reading one declared input into `var`, and the conditions it must meet."""
        default = self.constant(spec.default, "D") if spec.has_default else None
        may_be_absent = default is None and not spec.required and (self.tolerant or spec.name not in self.read)
        # null counts as absent: a flat optional input reads as None when either, a nested one
        # (through the careful checker's own lookup) as ABSENT
        absent = "None" if len(spec.path) == 1 else "ABSENT"
        statements: list[str] = []
        if len(spec.path) == 1:
            key = repr(spec.name)
            if default is not None:
                fetch = f"it.get({key}, {default})"
            elif may_be_absent:
                fetch = f"it.get({key})"
            else:
                fetch = f"it[{key}]"
        else:
            if default is None and not may_be_absent:
                self.absent[spec.name] = (var, "ABSENT")
                self.declined_when_absent.add(spec.name)  # a required input: the careful path says it is missing
            statements, fetch = self.nested_read(spec.path, var, default or "ABSENT"), var
        if may_be_absent:
            self.absent[spec.name] = (var, absent)
        if spec.type == "string" and spec.enum is not None:
            # the enum table both checks the value and hands back the policy's own string, so
            # comparisons with enum values can be identity tests; absence maps to itself
            canonical: dict[Any, Any] = {value: value for value in spec.enum}
            if may_be_absent:
                sentinel = None if absent == "None" else ABSENT
                canonical[sentinel] = sentinel
            table = self.constant(canonical, "E", shared=False)
            self.canonical[spec.name] = {value: self.constant(canonical[value], "C", shared=False) for value in spec.enum}
            return statements + [f"{var} = {table}[{fetch}]"], []
        if fetch != var:
            statements.append(f"{var} = {fetch}")
            if spec.type == "object" and default is None and len(spec.path) == 1:
                self.parents.setdefault(spec.path, var)  # the item's own mapping: its nested inputs read through it
        if spec.type not in ("string", "integer", "number", "boolean"):
            checks = self.structure_checks(spec, var)
            if checks is None:
                convert = f"{var} = {self.conversion(spec, var)}"
                statements += [f"if {var} is not {absent}:", "    " + convert] if may_be_absent else [convert]
                return statements, []
        else:
            checks = self.checks(spec, var, whole if not may_be_absent else None)
        if may_be_absent:
            return statements, [f"({var} is {absent} or (" + " and ".join(checks or ["True"]) + "))"]
        return statements, checks

    def nested_read(self, path: tuple[str, ...], var: str, missing: str) -> list[str]:
        """Statements reading a nested field into `var`: straight through the mappings on its
        path, each read once for every input below it; where that finds nothing, as the
        checker's lookup reads it: null in its mapping is absent, and where the path does not
        lead to the field, a flat key written with dots (`"service.tier"`) stands for it.
        `missing` is what absence reads as (the default, or ABSENT)."""
        lines: list[str] = []
        mapping = "it"
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in self.parents:
                local = self.parents[prefix] = f"p{len(self.parents)}"
                lines.append(f"{local} = {mapping}.get({path[depth - 1]!r})")
            parent = self.parents[prefix]
            if parent not in self.views:  # its type is tested once, not once for each field read in it
                view = self.views[parent] = f"m{len(self.views)}"
                lines.append(f"{view} = {parent} if type({parent}) is dict else EMPTY")
            mapping = self.views[parent]
        key, flat = path[-1], ".".join(path)
        lines.append(f"{var} = {mapping}.get({key!r})")
        lines.append(f"if {var} is None: {var} = {missing} if {key!r} in {mapping} else it.get({flat!r})")
        lines.append(f"if {var} is None: {var} = {missing}")
        return lines

    def structure_checks(self, spec: InputSpec, var: str) -> list[str] | None:
        """The conditions a mapping or a list of plain values meets exactly when the careful
        checker accepts it unchanged; None for inputs it converts (dates, lists of numbers)."""
        if spec.enum is not None or spec.minimum is not None or spec.maximum is not None:
            return None
        if spec.type == "object":
            return [f"type({var}) is dict"]
        if spec.type != "array":
            return None
        if spec.items is None:
            return [f"type({var}) is list"]
        element = spec.items
        if element.type not in ("string", "boolean", "integer") or element.minimum is not None \
                or element.maximum is not None or element.items is not None:
            return None
        # one type per element, and only the declared one (no None, no whole floats to convert);
        # joining raises TypeError at any element that is not text, several times faster than
        # collecting the elements' types, and text is what the checker accepts there
        if element.type == "string":
            checks = [f"type({var}) is list", f"({self.constant(''.join, 'J')}({var}) is not None)"]
        else:
            checks = [f"type({var}) is list",
                      f"{{*map(type, {var})}} <= {self.constant(frozenset({_PYTHON_TYPE[element.type]}), 'T')}"]
        if element.enum is not None:
            checks.append(f"{self.constant(frozenset(element.enum), 'S')}.issuperset({var})")
        return checks

    def conversion(self, spec: InputSpec, var: str) -> str:
        """An expression converting `var` as the careful checker does (it raises where the
        checker would reject the value, and the careful path then says why)."""
        careful = f"_convert({var}, {self.constant(spec, 'I')})"
        if spec.enum is None and spec.minimum is None and spec.maximum is None:
            if spec.type == "date":  # the checker's own parse of a date: date.fromisoformat of ten characters
                return f"(_date({var}) if type({var}) is str and len({var}) == 10 else {careful})"
            if spec.type == "datetime":  # and of a date-time's text
                return f"(_datetime({var}) if type({var}) is str else {careful})"
        return careful

    def checks(self, spec: InputSpec, var: str, whole: list[str] | None) -> list[str]:
        """The conditions a text, number or boolean value meets exactly when the careful checker
        accepts it unchanged (anything else goes to the careful path)."""
        kind = spec.type
        checks: list[str] = []
        if kind == "string":
            checks.append(f"type({var}) is str")
        elif kind == "integer":
            if whole is not None:
                whole.append(var)
            else:
                checks.append(f"type({var}) is int")
        elif kind == "number":
            checks.append(f"(type({var}) is float or type({var}) is int)")
        else:
            checks.append(f"type({var}) is bool")  # the two booleans; bool has no subclasses
        if kind in ("integer", "number"):
            checks += self.bounds(spec, var, finite=kind == "number")
        if spec.enum is not None:
            checks.append(f"{var} in {self.constant(frozenset(spec.enum), 'S')}")
        return checks

    def bounds(self, spec: InputSpec, var: str, finite: bool) -> list[str]:
        # a number input's bounds are floats for the reason `operand` gives
        low = f"{self.number(spec.minimum, finite)} <= " if spec.minimum is not None else ("-INF < " if finite else "")
        high = f" <= {self.number(spec.maximum, finite)}" if spec.maximum is not None else (" < INF" if finite else "")
        if not low and not high:
            return []
        return [f"{low}{var}{high}"]

    def number(self, value: int | float, as_float: bool = False) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            return self.constant(value)
        if as_float and type(value) is int and abs(value) <= _EXACT_FLOAT_LIMIT:
            return repr(float(value))
        return repr(value)

    # -- conditions

    def condition(self, condition: Condition, traced: bool, negated: bool = False) -> str:
        kind = condition.kind
        if kind == "expr":
            code = self.expression(condition.expr, condition.expr.tree)
            if condition.expr.type.kind == "any":
                code = f"_truth({code})"
                self.pool["_truth"] = _fast_truth
            if not traced and condition.node_id in self.guarded:
                code = self.guarded_expression(condition.expr, condition.expr.tree, negated)
        elif kind == "const":
            code = "True" if condition.value else "False"
        elif kind == "not":
            code = f"(not {self.condition(condition.children[0], traced, not negated)})"
        else:
            joiner = " and " if kind == "all" else " or "
            code = "(" + joiner.join(self.condition(child, traced, negated) for child in condition.children) + ")"
        return f"(n{condition.node_id} := {code})" if traced else code

    def rule_test(self, rule: Rule) -> str:
        """Code that is true exactly when the rule fires (see `condition`); a rule evaluated
        by the interpreter where an input it reads is absent tests that first."""
        code = self.condition(rule.when, False)
        exposed = self.exposed[rule.index]
        optional = [spec.name for spec in self.policy.inputs if spec.name in exposed and spec.name in self.absent]
        if rule.index not in self.interpreted or not optional:
            return code
        test = " or ".join(" is ".join(self.absent[name]) for name in optional)
        if _never_true_when_absent(rule.when, set(optional)):
            return f"(False if {test} else {code})"
        tested = sorted({name for node in rule.when.walk() if node.expr is not None for name in node.expr.presence})
        names = [spec.name for spec in self.policy.inputs if spec.name in rule.when.reads or spec.name in tested]
        if self.program is None:
            self.program = ConditionProgram(self.policy.conditions, self.as_of)
        holds = self.constant(RuleHolds(self.program, rule.when, tuple(names), tuple(tested), len(self.policy.conditions)),
                              "H", shared=False)
        values = "".join(f"{self.locals[name]}, " for name in names)
        flags = "".join(f"{self.has_locals[name]}, " for name in tested)
        return f"({holds}(({values}), ({flags})) if {test} else {code})"

    def guarded_expression(self, checked: Checked, node: ast.AST, negated: bool = False) -> str:
        """A plain leaf (see _plain_leaf) read two-valued so that the rule is true exactly when
        the careful path finds it true: where the leaf counts as it is, true only if it is
        known true (each comparison only where the inputs it reads are present); under a `not`,
        false only if it is known false (each comparison true where an input is absent).
        `and`, `or` and `not` of three values keep those readings exact."""
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.guarded_expression(checked, value, negated) for value in node.values) + ")"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(not {self.guarded_expression(checked, node.operand, not negated)})"
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            # a chain is false where any step whose operands are known is false, unknown or
            # not: each step is guarded on its own
            operands = [node.left, *node.comparators]
            steps = [ast.Compare(left=operands[index], ops=[op], comparators=[operands[index + 1]])
                     for index, op in enumerate(node.ops)]
            return "(" + " and ".join(self.guarded_expression(checked, step, negated) for step in steps) + ")"
        code = self.emit_Compare(checked, node) if isinstance(node, ast.Compare) else self.boolean(checked, node)
        optional: list[tuple[str, str]] = []
        pending = [node]
        while pending:  # the inputs this comparison reads (a dotted name is one input; has() reads none)
            part = pending.pop()
            ref = checked.refs.get(id(part))
            if isinstance(part, ast.Call) and getattr(part.func, "id", None) == "has":
                continue
            if ref is None:
                pending.extend(reversed(list(ast.iter_child_nodes(part))))
            elif ref.input in self.absent and self.absent[ref.input] not in optional:
                optional.append(self.absent[ref.input])
        if not optional:
            return code
        if negated:
            return "(" + " or ".join(f"{var} is {sentinel}" for var, sentinel in optional) + f" or {code})"
        return "(" + " and ".join(f"{var} is not {sentinel}" for var, sentinel in optional) + f" and {code})"

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
            kinds = [self.type_of(checked, operand) for operand in operands]
            codes = [
                self.operand(checked, operand, "number" in kinds[max(index - 1, 0):index + 2])
                for index, operand in enumerate(operands)
            ]
            parts = [codes[0]]
            for op, code in zip(node.ops, codes[1:]):
                parts += [_NATIVE_COMPARE[type(op)], code]
            return "(" + " ".join(parts) + ")"
        codes = [pair[1] for pair in pairs]  # type: ignore[index]
        return codes[0] if len(codes) == 1 else "(" + " and ".join(codes) + ")"

    def pair(self, checked: Checked, left: ast.AST, op: ast.cmpop, right: ast.AST) -> tuple[str, str]:
        """Code for one comparison: identity tests for enum values, native operators where
        the types are known, the sandbox's comparison otherwise."""
        identity = self.enum_identity(checked, left, op, right)
        if identity is not None:
            return "identity", identity
        left_type, right_type = self.type_of(checked, left), self.type_of(checked, right)
        left_code = self.operand(checked, left, right_type == "number")
        right_code = self.operand(checked, right, left_type == "number")
        if isinstance(op, (ast.In, ast.NotIn)):
            if right_type in ("array", "string") and left_type != "any" and not self.has_unknown_items(checked, right):
                if isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                    values = self.constant_values(checked, right)
                    if left_type in _HASHED_TYPES and values is not None and len(values) > 1:
                        # one hash lookup instead of a comparison with each value (same result:
                        # for these types, equal values hash alike)
                        right_code = self.constant(frozenset(values), "S")
                    else:
                        right_code = "(" + right_code[1:-1] + ("," if len(right.elts) == 1 else "") + ")"
                return "native", f"({left_code} {_NATIVE_COMPARE[type(op)]} {right_code})"
            helper = "_contains" if isinstance(op, ast.In) else "_not_contains"
            return "helper", f"{helper}({right_code}, {left_code})"
        if left_type != "any" and right_type != "any":
            return "native", f"({left_code} {_NATIVE_COMPARE[type(op)]} {right_code})"
        helper = self.constant(sandbox.COMPARISONS[type(op)], "F")
        return "helper", f"{helper}({left_code}, {right_code})"

    def operand(self, checked: Checked, node: ast.AST, beside_number: bool) -> str:
        """Code for one operand of a comparison. A whole-number constant compared with a
        `number` (mostly floats at run time) is written as the equal float when that float is
        exact: the comparison's result is the same, and the interpreter then compares two floats
        on its fast path instead of converting between int and float on every item."""
        if beside_number and isinstance(node, ast.Constant):
            value = checked.constants.get(id(node), node.value)
            if type(value) is int:
                return self.number(value, as_float=True)
        return self.expression(checked, node)

    @staticmethod
    def constant_values(checked: Checked, node: ast.List | ast.Tuple | ast.Set) -> list[Any] | None:
        """The values of a list written out of constants (as the checker read them: a date
        compared with a date input is a date); None if it holds anything else."""
        if not all(isinstance(element, ast.Constant) for element in node.elts):
            return None
        return [checked.constants.get(id(element), element.value) for element in node.elts]  # type: ignore[attr-defined]

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
        if name == "days_between" and _same_moments(checked, node) == "date":
            return f"({arguments[1]} - {arguments[0]}).days"  # two dates: whole days, as the sandbox counts them
        if name == "days_between" and _same_moments(checked, node) == "datetime":
            return f"(({arguments[1]} - {arguments[0]}).total_seconds() / 86400)"  # as the sandbox counts them
        if name == "days_since":
            as_of = self.constant(self.as_of, "K")
            kind = "datetime" if isinstance(self.as_of, _dt.datetime) else "date"
            if _same_moments(checked, node) == kind == "date":
                return f"({as_of} - {arguments[0]}).days"
            if _same_moments(checked, node) == kind == "datetime":
                return f"(({as_of} - {arguments[0]}).total_seconds() / 86400)"
            return f"{self.constant(sandbox.days_since, 'F')}({arguments[0]}, {as_of})"
        helper = self.constant(sandbox.FUNCTIONS[name], "F")
        return f"{helper}({', '.join(arguments)})"

    def type_of(self, checked: Checked, node: ast.AST) -> str:
        """The static kind the checker gave a sub-expression."""
        typ = checked.types.get(id(node))
        return typ.kind if typ is not None else "any"


class RuleHolds:
    """Whether a rule's condition is true, evaluated three-valued as the careful path does,
    over the checked values of the inputs it reads (None or ABSENT where absent). An error
    raises ConditionError, so the careful path then says what went wrong."""

    def __init__(self, program: ConditionProgram, condition: Condition, names: tuple[str, ...],
                 tested: tuple[str, ...], slots: int):
        self.program, self.condition, self.names, self.tested, self.slots = program, condition, names, tested, slots

    def __call__(self, values: tuple[Any, ...], flags: tuple[bool, ...]) -> bool:
        known = {name: value for name, value in zip(self.names, values) if value is not None and value is not ABSENT}
        present = {name for name, flag in zip(self.tested, flags) if flag}
        return self.program.evaluate(self.condition, known, present, [None] * self.slots) is True


def _never_true_when_absent(condition: Condition, optional: set[str]) -> bool:
    """Whether the careful path finds this condition not true, and raises no error, wherever
    any of the `optional` inputs it reads is absent: a leaf, or an `all` of leaves, that is an
    `and` of parts each plain (see _plain_leaf) or unknown where any of those inputs is
    absent (see _unknown_when_absent), at least one of them the latter."""
    leaves = [condition] if condition.kind == "expr" else list(condition.children) if condition.kind == "all" else []
    if not leaves or any(leaf.kind != "expr" for leaf in leaves):
        return False
    parts = [(leaf.expr, part) for leaf in leaves
             for part in (leaf.expr.tree.values if _is_and(leaf.expr.tree) else [leaf.expr.tree])]  # type: ignore[attr-defined]
    unknown = [_unknown_when_absent(checked, part, optional) for checked, part in parts]
    return any(unknown) and all(known or _plain_part(checked, part) for known, (checked, part) in zip(unknown, parts))


def _is_and(node: ast.AST) -> bool:
    return isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And)


def _unknown_when_absent(checked: Checked, node: ast.AST, optional: set[str]) -> bool:
    """Whether `node` (a comparison or a call) reads every one of the `optional` inputs and
    every operation in it does too, so that where any is absent each operation is unknown,
    unperformed, and so is the whole."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        operands = [node.left, node.comparators[0]]
    elif isinstance(node, ast.Call):
        operands = [node]
    else:
        return False
    if not optional <= _inputs_read(checked, node):
        return False
    for part in (part for operand in operands for part in ast.walk(operand)):
        ref = checked.refs.get(id(part))
        if ref is not None and ref.subpath:
            return False  # reading into a mapping may fail
        if not isinstance(part, _UNKNOWN_PROPAGATES) or (isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.Not)):
            return False
        if isinstance(part, ast.Call) and getattr(part.func, "id", None) not in _UNKNOWN_CALLS:
            return False  # has() is never unknown
        if isinstance(part, (ast.BinOp, ast.UnaryOp, ast.Call)) and not optional <= _inputs_read(checked, part):
            return False
    return True


def _inputs_read(checked: Checked, node: ast.AST) -> set[str]:
    found: set[str] = set()
    pending = [node]
    while pending:
        part = pending.pop()
        ref = checked.refs.get(id(part))
        if ref is not None:
            found.add(ref.input)
        else:
            pending.extend(ast.iter_child_nodes(part))
    return found


def exposed_reads(condition: Condition) -> set[str]:
    """The inputs a condition reads where no has() of them has said the item carries them:
    `x if has(x) else 0`, `has(x) and x > 1`, `not has(x) or x > 1` and `all: [has(x), x > 1]`
    read x only where it is present, so wherever an item lacks x they decide (and fail) as the
    careful path does without a test for its absence."""
    found: set[str] = set()
    _exposed_in_condition(condition, frozenset(), found)
    return found


def _exposed_in_condition(condition: Condition, present: frozenset[str], found: set[str]) -> None:
    if condition.kind == "expr":
        _exposed_in(condition.expr, condition.expr.tree, present, found)
        return
    # an `all` goes on past a child only where it is true or unknown, an `any` only where it is
    # false or unknown (see _present_where)
    for child in condition.children:
        _exposed_in_condition(child, present, found)
        if condition.kind in ("all", "any"):
            present = present | _present_where(child, condition.kind == "all")


def _present_where(condition: Condition, value: bool) -> frozenset[str]:
    """The inputs present wherever `condition` has this value or is unknown, as its has() tests
    tell (has() is never unknown: an `all` that is true or unknown has no false part)."""
    if condition.kind == "expr":
        return _present_where_expr(condition.expr, condition.expr.tree, value)
    if condition.kind == "not":
        return _present_where(condition.children[0], not value)
    if condition.kind == ("all" if value else "any"):
        return frozenset().union(*(_present_where(child, value) for child in condition.children))
    return frozenset()


def _present_where_expr(checked: Checked, node: ast.AST, value: bool) -> frozenset[str]:
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "has":
        return frozenset([checked.refs[id(node.args[0])].input]) if value else frozenset()
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _present_where_expr(checked, node.operand, not value)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And if value else ast.Or):
        return frozenset().union(*(_present_where_expr(checked, part, value) for part in node.values))
    return frozenset()


def _exposed_in(checked: Checked, node: ast.AST, present: frozenset[str], found: set[str]) -> None:
    ref = checked.refs.get(id(node))
    if ref is not None:
        if ref.input not in present:
            found.add(ref.input)
        return
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "has":
        return  # has() reads no value
    if isinstance(node, ast.IfExp):
        _exposed_in(checked, node.test, present, found)
        _exposed_in(checked, node.body, present | _present_where_expr(checked, node.test, True), found)
        _exposed_in(checked, node.orelse, present | _present_where_expr(checked, node.test, False), found)
        return
    if isinstance(node, ast.BoolOp):  # a part is evaluated only past the decisive value of those before
        for part in node.values:
            _exposed_in(checked, part, present, found)
            present = present | _present_where_expr(checked, part, isinstance(node.op, ast.And))
        return
    for child in ast.iter_child_nodes(node):
        _exposed_in(checked, child, present, found)


# calls that are unknown where an argument is (has() never is)
_UNKNOWN_CALLS = frozenset(sandbox.FUNCTIONS) | {"matches", "days_since"}
# nodes whose value is unknown where an operand is, which then perform nothing
_UNKNOWN_PROPAGATES = (ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Attribute, ast.Constant, ast.expr_context,
                       ast.operator, ast.unaryop)


def _plain_leaf(checked: Checked) -> bool:
    """An expression of comparisons (joined by `and`, `or` and `not`) between inputs, constants
    and calls that cannot fail on checked values: each comparison with an input it reads absent
    is unknown, and otherwise true or false, and the careful path would raise no error while
    evaluating the rest of it (no arithmetic to divide by zero)."""
    return _plain_part(checked, checked.tree)


def _plain_part(checked: Checked, node: ast.AST) -> bool:
    if isinstance(node, ast.BoolOp):  # only on top: `(a or b) == x` is not a comparison of known parts
        return all(_plain_part(checked, value) for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _plain_part(checked, node.operand)
    for part in ast.walk(node):
        if isinstance(part, ast.Call):
            if not _total_call(checked, part):
                return False
        elif not isinstance(part, _PLAIN_NODES):
            return False
    return True


def _same_moments(checked: Checked, call: ast.Call) -> str | None:
    """"date" or "datetime" where every argument of `call` is known to be one of that kind."""
    kinds = {typ.kind if (typ := checked.types.get(id(argument))) is not None else None for argument in call.args}
    return kinds.pop() if len(kinds) == 1 and kinds <= {"date", "datetime"} else None


def _total_call(checked: Checked, call: ast.Call) -> bool:
    """Whether a call cannot fail on checked values: has(), or a function whose first argument
    is of a kind it takes, such as len() of text or a list (not of a field of an undeclared
    mapping, which may hold a number), or days_between() of two dates."""
    name = getattr(call.func, "id", None)
    if name == "has":
        return True
    if name in ("days_between", "days_since"):
        return _same_moments(checked, call) is not None
    typ = checked.types.get(id(call.args[0])) if call.args else None
    return typ is not None and typ.kind in _TOTAL_ON.get(name, ())


# the kinds of first argument on which a function cannot fail (matches() takes a checked pattern)
_TOTAL_ON = {"len": ("string", "array"), "lower": ("string",), "upper": ("string",), "matches": ("string",)}
_PLAIN_NODES = (ast.Compare, ast.Name, ast.Attribute, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.expr_context,
                ast.cmpop)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True




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

