"""The expression language: parse, allow-list, type-check, and evaluate with missing data.

Expressions use the simpleeval language (Python expression syntax): literals, comparisons
(chained too), `and` / `or` / `not`, `in` / `not in`, arithmetic, conditional expressions and
a fixed set of functions. Each expression is parsed once with `ast`, every node is checked
against an allow-list, every name against the declared inputs, and every operation against
the inputs' declared types, so mistakes are reported with their column before any item is
seen. `compile.py` then runs the checked tree, through the helpers of `sandbox.py`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Diagnostic, Span, did_you_mean
from .sandbox import Pattern, PatternError, parse_date, parse_datetime
from .schema import json_equal

MAX_EXPRESSION_LENGTH = 4000  # characters in one expression
MAX_EXPRESSION_NODES = 400  # syntax nodes in one expression
# levels of nesting in one expression: the generated code brackets each level at most twice,
# and Python's parser takes 200 brackets (see validate.MAX_CONDITION_DEPTH)
MAX_EXPRESSION_DEPTH = 50

# -- types ----------------------------------------------------------------------------------

TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "date": "a date",
    "datetime": "a date-time",
    "array": "a list",
    "object": "a mapping",
    "any": "any value",
}
NUMERIC = frozenset({"integer", "number"})


@dataclass(frozen=True, slots=True)
class Type:
    """The static type of an expression; `enum` and `source` track values of enum inputs."""

    kind: str
    item: Type | None = None
    enum: tuple[Any, ...] | None = None
    source: str | None = None

    @property
    def word(self) -> str:
        if self.kind == "array" and self.item is not None and self.item.kind != "any":
            return f"a list of {_bare(self.item.word)}"
        return TYPE_WORDS[self.kind]

    def plain(self) -> Type:
        """The same type without enum information."""
        return Type(self.kind, self.item)


def _bare(word: str) -> str:
    return word.removeprefix("a ").removeprefix("an ")


ANY = Type("any")
BOOLEAN = Type("boolean")
INTEGER = Type("integer")
NUMBER = Type("number")
STRING = Type("string")


def type_of_input(spec: Any) -> Type:
    """The static type of a declared input (an `InputSpec`)."""
    item = type_of_input(spec.items) if getattr(spec, "items", None) is not None else None
    if spec.type == "array" and item is None:
        item = ANY
    return Type(spec.type, item, tuple(spec.enum) if spec.enum is not None else None, spec.name)


def _join(a: Type, b: Type) -> Type | None:
    """The type of a value that is either `a` or `b`, or None when they do not mix."""
    if a.kind == "any" or b.kind == "any":
        return ANY
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return INTEGER if a.kind == b.kind == "integer" else NUMBER
    if a.kind == b.kind:
        if a.kind == "array":
            item = _join(a.item or ANY, b.item or ANY)
            return Type("array", item or ANY)
        return a if a == b else a.plain()
    return None


def _comparable(a: Type, b: Type, ordered: bool) -> bool:
    if a.kind == "any" or b.kind == "any":
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    if a.kind != b.kind:
        return False
    if ordered:
        return a.kind in ("string", "date", "datetime")
    return True


# -- functions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None
    usage: str


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("len", 1, 1, "len(text or list)"),
        FunctionSpec("lower", 1, 1, "lower(text)"),
        FunctionSpec("upper", 1, 1, "upper(text)"),
        FunctionSpec("matches", 2, 2, "matches(text, 'regular expression')"),
        FunctionSpec("min", 1, None, "min(a, b, ...) or min(list)"),
        FunctionSpec("max", 1, None, "max(a, b, ...) or max(list)"),
        FunctionSpec("abs", 1, 1, "abs(number)"),
        FunctionSpec("round", 1, 2, "round(number) or round(number, digits)"),
        FunctionSpec("has", 1, 1, "has(field)"),
        FunctionSpec("days_between", 2, 2, "days_between(start, end)"),
        FunctionSpec("days_since", 1, 1, "days_since(date)"),
    )
}


# -- scope: which names an expression may read ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """What a (possibly dotted) name in an expression refers to."""

    input: str  # the declared input that is read
    subpath: tuple[str, ...]  # fields below an undeclared-properties object input
    type: Type


class Scope:
    """The declared inputs an expression may read, by (dotted) name."""

    def __init__(self, inputs: Mapping[str, Any], extra: Mapping[str, Type] | None = None):
        self.inputs = dict(inputs)
        self.types: dict[str, Type] = {name: type_of_input(spec) for name, spec in self.inputs.items()}
        for name, typ in (extra or {}).items():
            self.types[name] = typ

    def resolve(self, dotted: str) -> Reference | str:
        """The reference for `dotted`, or a message saying why it is not readable."""
        if dotted in self.types:
            return Reference(dotted, (), self.types[dotted])
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix not in self.types:
                continue
            typ = self.types[prefix]
            if typ.kind == "any" or (typ.kind == "object" and not self._has_declared_fields(prefix)):
                return Reference(prefix, tuple(parts[cut:]), ANY)
            if typ.kind == "object":
                return f"'{prefix}' declares no field '{parts[cut]}'"
            return f"'{prefix}' is {typ.word}; it has no field '{parts[cut]}'"
        return f"name '{dotted}' is not a declared input"

    def _has_declared_fields(self, prefix: str) -> bool:
        start = prefix + "."
        return any(name.startswith(start) for name in self.types)

    def names(self) -> list[str]:
        return list(self.types)


# -- checking ---------------------------------------------------------------------------------

Locate = Callable[[int, int], Span]


@dataclass(slots=True)
class Checked:
    """An expression that passed every check, ready to interpret or compile."""

    text: str
    tree: ast.expr
    type: Type
    reads: tuple[str, ...]  # declared inputs whose values it reads, in order of first use
    presence: tuple[str, ...]  # declared inputs it tests with has()
    regexes: dict[int, Pattern] = field(default_factory=dict)  # id(call node) -> pattern
    refs: dict[int, Reference] = field(default_factory=dict)  # id(name node) -> reference
    constants: dict[int, Any] = field(default_factory=dict)  # id(constant node) -> coerced value
    types: dict[int, Type] = field(default_factory=dict)  # id(node) -> its static type
    source: str = ""  # the text the tree was parsed from (line breaks as spaces)
    span: Span | None = None  # where the expression is written
    span_of: Callable[[ast.AST], Span] | None = field(default=None, repr=False)  # where a part is written


_FORBIDDEN: dict[type, tuple[str, str | None]] = {
    ast.Lambda: ("lambda expressions are not allowed", None),
    ast.ListComp: ("comprehensions are not allowed", "use a list of values, or any:/all: in the policy"),
    ast.SetComp: ("comprehensions are not allowed", None),
    ast.DictComp: ("comprehensions are not allowed", None),
    ast.GeneratorExp: ("comprehensions are not allowed", None),
    ast.NamedExpr: ("assignment (':=') is not allowed", None),
    ast.Await: ("'await' is not allowed", None),
    ast.Yield: ("'yield' is not allowed", None),
    ast.YieldFrom: ("'yield' is not allowed", None),
    ast.JoinedStr: ("f-strings are not allowed", None),
    ast.FormattedValue: ("f-strings are not allowed", None),
    ast.Starred: ("'*' unpacking is not allowed", None),
    ast.Dict: ("mapping literals are not allowed", None),
    ast.Slice: ("slices are not allowed", "index a single element, e.g. tags[0]"),
}


def forbidden_syntax(tree: ast.AST) -> tuple[ast.AST, str, str | None] | None:
    """The first part of an expression that its language does not have (a lambda, a
    comprehension, ...), with what to say of it and a hint; None if there is none."""
    for node in ast.walk(tree):
        forbidden = _FORBIDDEN.get(type(node))
        if forbidden is not None:
            return node, forbidden[0], forbidden[1]
    return None


_BITWISE = (ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift, ast.MatMult)
_CMP_SYMBOL = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}
_BIN_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


class ExpressionProblem(Exception):
    """Stops checking one part of an expression at a structural problem (a forbidden operator or
    call), or the whole expression where it is too deep or too long to check at all."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def check_expression(text: str, scope: Scope, locate: Locate) -> tuple[Checked | None, list[Diagnostic]]:
    """Parse and check one condition expression; the result, or every problem found in it.

    `locate(offset, length)` turns a character offset inside `text` into a source span.
    """
    return _check(text, scope, locate, want_condition=True)


def check_value_expression(text: str, scope: Scope, locate: Locate) -> tuple[Checked | None, list[Diagnostic]]:
    """Like `check_expression`, for an expression whose value is not a condition."""
    return _check(text, scope, locate, want_condition=False)


def parse_python(source: str) -> ast.Expression:
    """The syntax tree of an expression, without Python's warnings about its text: `'\\d+'`
    is the pattern \\d+, as Python reads it, not a warning printed to the user."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(source, mode="eval")


def _check(text: str, scope: Scope, locate: Locate, want_condition: bool) -> tuple[Checked | None, list[Diagnostic]]:
    if len(text) > MAX_EXPRESSION_LENGTH:
        return None, [
            Diagnostic("expression-too-long", f"expression is longer than {MAX_EXPRESSION_LENGTH} characters", locate(0, 0),
                       "split it into several conditions under all: or any:")
        ]
    stripped = text.lstrip()
    lead = len(text) - len(stripped)
    # YAML block scalars keep line breaks; the language has none outside brackets
    source = stripped.rstrip().replace("\r", " ").replace("\n", " ").replace("\t", " ")
    if not source:
        return None, [Diagnostic("expression-syntax", "expression is empty", locate(0, 0))]
    if source.startswith("#"):  # a comment runs to the end of the expression
        return None, [Diagnostic("expression-syntax", "expression is empty: everything after '#' is a comment",
                                 locate(lead, len(source)), "remove the '#', or write the condition before it")]
    offsets = _CharOffsets(source, lead)
    try:
        tree = parse_python(source).body
    except SyntaxError as error:
        return None, [_syntax_problem(error, source, offsets, locate)]
    except (ValueError, RecursionError, MemoryError):
        return None, [Diagnostic("expression-syntax", "expression cannot be parsed", locate(lead, len(source)))]
    checker = _Checker(source, scope, locate, offsets)
    try:
        checker.count(tree)
        result = checker.visit(tree)
    except ExpressionProblem as problem:
        return None, [problem.diagnostic]
    if want_condition and result.kind not in ("boolean", "any") and not checker.problems:
        checker.problem(
            tree,
            "not-a-condition",
            f"a condition must be true or false, but this expression gives {result.word}",
            "compare it with something, e.g. x > 0",
        )
    if checker.problems:
        return None, sorted(checker.problems, key=_place)
    checked = Checked(
        text=stripped.rstrip(),
        tree=tree,
        type=result,
        reads=tuple(checker.reads),
        presence=tuple(checker.presence),
        regexes=checker.regexes,
        refs=checker.refs,
        constants=checker.constants,
        types=checker.types,
        source=source,
        span=checker.span(tree),
        span_of=checker.span,
    )
    from .compile import constant_failure
    from .sandbox import runtime_message

    failing = [Diagnostic("always-fails", f"this part always fails, whatever the item: {runtime_message(error)}",
                          checker.span(node), "every item that reaches it would be rejected; write the value it should have")
               for node, error in constant_failure(checked)]
    return (None, failing) if failing else (checked, [])


def _place(diagnostic: Diagnostic) -> tuple[int, int]:
    span = diagnostic.span
    return (span.line, span.column) if span is not None else (0, 0)


class _CharOffsets:
    """Maps the parser's UTF-8 byte columns to character offsets in the original text."""

    def __init__(self, source: str, lead: int):
        self.lead = lead
        self.ascii = source.isascii()
        self.encoded = source.encode("utf-8") if not self.ascii else b""

    def char(self, byte_offset: int) -> int:
        if self.ascii:
            return self.lead + byte_offset
        return self.lead + len(self.encoded[:byte_offset].decode("utf-8", errors="ignore"))


def _syntax_problem(error: SyntaxError, source: str, offsets: _CharOffsets, locate: Locate) -> Diagnostic:
    # SyntaxError.offset is 1-based and counts characters; 0 means "at the end"
    column = (error.offset or 0) - 1
    if column < 0 or column > len(source):
        column = len(source)
    message = (error.msg or "invalid syntax").replace("invalid syntax", "invalid expression syntax")
    if message.startswith("invalid expression syntax. Perhaps you forgot a comma"):
        message = "invalid expression syntax"
    hint = None
    if "'='" in message or re.search(r"(?<![=!<>])=(?!=)", source):
        hint = "compare with '==', not '='"
    elif source.count("(") != source.count(")"):
        hint = "brackets do not balance"
    elif re.search(r"\b(&&|\|\|)", source) or "&&" in source or "||" in source:
        hint = "write 'and' / 'or'"
    return Diagnostic("expression-syntax", message, locate(offsets.lead + column, 1), hint)


class _Checker:
    """Walks one parsed expression, computing types and collecting problems."""

    def __init__(self, source: str, scope: Scope, locate: Locate, offsets: _CharOffsets):
        self.source = source
        self.scope = scope
        self.locate = locate
        self.offsets = offsets
        self.problems: list[Diagnostic] = []
        self.reads: list[str] = []
        self.presence: list[str] = []
        self.regexes: dict[int, Pattern] = {}
        self.refs: dict[int, Reference] = {}
        self.constants: dict[int, Any] = {}
        self.types: dict[int, Type] = {}

    # -- positions and problems

    def span(self, node: ast.AST) -> Span:
        start = self.offsets.char(node.col_offset)  # type: ignore[attr-defined]
        end_offset = getattr(node, "end_col_offset", None)
        end = self.offsets.char(end_offset) if end_offset is not None else start + 1
        return self.locate(start, max(1, end - start))

    def problem(self, node: ast.AST, code: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(code, message, self.span(node), hint))

    def fatal(self, node: ast.AST, code: str, message: str, hint: str | None = None) -> ExpressionProblem:
        return ExpressionProblem(Diagnostic(code, message, self.span(node), hint))

    def count(self, tree: ast.AST) -> None:
        depth = _nesting(tree)
        if depth > MAX_EXPRESSION_DEPTH:
            raise self.fatal(tree, "expression-too-deep", f"expression nests {depth} levels deep; at most "
                             f"{MAX_EXPRESSION_DEPTH}", "split it into several conditions under all: or any:")
        nodes = 0
        for node in ast.walk(tree):
            nodes += 1
            if nodes > MAX_EXPRESSION_NODES:
                raise self.fatal(tree, "expression-too-long", f"expression has more than {MAX_EXPRESSION_NODES} parts",
                                 "split it into several conditions under all: or any:")
        # every part the language lacks is named, but not the parts inside one (a lambda's body)
        pending = [tree]
        while pending:
            node = pending.pop()
            forbidden = _FORBIDDEN.get(type(node))
            if forbidden is not None:
                self.problem(node, "forbidden-syntax", forbidden[0], forbidden[1])
            else:
                pending.extend(ast.iter_child_nodes(node))

    # -- dispatch

    def visit(self, node: ast.AST) -> Type:
        """The type of `node`. A part that cannot be checked further (a forbidden operator, a
        method call) is a problem and stands for any value, so that the rest of the expression
        is still checked and every problem in it reported at once; an expression with a problem
        is never compiled."""
        if type(node) in _FORBIDDEN:  # named by count()
            return ANY
        try:
            method = getattr(self, "visit_" + type(node).__name__, None)
            if method is None:
                raise self.fatal(node, "forbidden-syntax", f"{_describe_node(node)} is not allowed in an expression")
            result = method(node)
        except ExpressionProblem as problem:
            self.problems.append(problem.diagnostic)
            result = ANY
        self.types[id(node)] = result
        return result

    def visit_Constant(self, node: ast.Constant) -> Type:
        value = node.value
        if value is None:
            raise self.fatal(node, "forbidden-syntax", "None is not allowed", "use has(field) to test whether a field is present")
        if isinstance(value, bool):
            return BOOLEAN
        if isinstance(value, int):
            return INTEGER
        if isinstance(value, float):
            return NUMBER
        if isinstance(value, str):
            return STRING
        raise self.fatal(node, "forbidden-syntax", f"{type(value).__name__} literals are not allowed")

    def visit_Name(self, node: ast.Name) -> Type:
        return self.reference(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> Type:
        dotted = dotted_name(node)
        if dotted is None:
            raise self.fatal(node, "forbidden-syntax", "attribute access is not allowed",
                             "fields of inputs are written as dotted names, e.g. service.criticality")
        return self.reference(node, dotted)

    def reference(self, node: ast.AST, dotted: str) -> Type:
        if any(part.startswith("__") for part in dotted.split(".")):
            raise self.fatal(node, "forbidden-syntax", f"name '{dotted}' is not allowed", "names starting with '__' are reserved")
        resolved = self.scope.resolve(dotted)
        if isinstance(resolved, str):
            hint = did_you_mean(dotted, self.scope.names())
            if dotted in ("true", "false", "null", "none"):
                hint = {"true": "did you mean 'True'?", "false": "did you mean 'False'?"}.get(
                    dotted, "use has(field) to test whether a field is present"
                )
            if dotted in FUNCTIONS:
                hint = f"'{dotted}' is a function: {FUNCTIONS[dotted].usage}"
            self.problem(node, "unknown-name", resolved, hint)
            return ANY
        self.refs[id(node)] = resolved
        if resolved.input not in self.reads:
            self.reads.append(resolved.input)
        return resolved.type

    def visit_List(self, node: ast.List | ast.Tuple | ast.Set) -> Type:
        item: Type | None = None
        for element in node.elts:
            element_type = self.visit(element)
            if item is None:
                item = element_type
            else:
                joined = _join(item, element_type)
                if joined is None:
                    self.problem(element, "type-mismatch", f"a list mixes {item.word} and {element_type.word}")
                    joined = ANY
                item = joined
        return Type("array", item.plain() if item is not None else ANY)

    visit_Tuple = visit_List
    visit_Set = visit_List

    def visit_BoolOp(self, node: ast.BoolOp) -> Type:
        word = "and" if isinstance(node.op, ast.And) else "or"
        for value in node.values:
            self.expect_boolean(value, self.visit(value), f"'{word}'")
        return BOOLEAN

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Type:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            self.expect_boolean(node.operand, operand, "'not'")
            return BOOLEAN
        if isinstance(node.op, ast.Invert):
            raise self.fatal(node, "forbidden-syntax", "bitwise operator '~' is not allowed", "use 'not'")
        if operand.kind not in NUMERIC and operand.kind != "any":
            self.problem(node, "type-mismatch", f"a sign needs a number, not {operand.word}")
            return NUMBER
        return operand.plain() if operand.kind != "any" else ANY

    def expect_boolean(self, node: ast.AST, typ: Type, context: str) -> None:
        if typ.kind not in ("boolean", "any"):
            self.problem(node, "type-mismatch", f"{context} needs true or false, not {typ.word}",
                         "compare it with something, e.g. x > 0")

    def visit_BinOp(self, node: ast.BinOp) -> Type:
        if isinstance(node.op, _BITWISE):
            symbol = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@"}[type(node.op)]
            hint = {"&": "use 'and'", "|": "use 'or'"}.get(symbol)
            raise self.fatal(node, "forbidden-syntax", f"operator '{symbol}' is not allowed", hint)
        left, right = self.visit(node.left), self.visit(node.right)
        symbol = _BIN_SYMBOL[type(node.op)]
        if left.kind == "any" or right.kind == "any":
            return ANY
        if left.kind in NUMERIC and right.kind in NUMERIC:
            if isinstance(node.op, ast.Div):
                return NUMBER
            if isinstance(node.op, ast.Pow):
                return NUMBER if "number" in (left.kind, right.kind) else INTEGER
            return INTEGER if left.kind == right.kind == "integer" else NUMBER
        if isinstance(node.op, ast.Add) and left.kind == right.kind and left.kind in ("string", "array"):
            return left.plain()
        if isinstance(node.op, ast.Mult):
            if left.kind in ("string", "array") and right.kind == "integer":
                return left.plain()
            if right.kind in ("string", "array") and left.kind == "integer":
                return right.plain()
        self.problem(node, "type-mismatch", f"cannot apply '{symbol}' to {left.word} and {right.word}")
        return ANY

    def visit_IfExp(self, node: ast.IfExp) -> Type:
        self.expect_boolean(node.test, self.visit(node.test), "the condition of 'if'")
        body, orelse = self.visit(node.body), self.visit(node.orelse)
        joined = _join(body, orelse)
        if joined is None:
            self.problem(node, "type-mismatch", f"the two branches give {body.word} and {orelse.word}; they must agree")
            return ANY
        return joined

    def visit_Subscript(self, node: ast.Subscript) -> Type:
        base = self.visit(node.value)
        if type(node.slice) in _FORBIDDEN:  # a slice, named by count(): what it gives is unknown
            return ANY
        key = self.visit(node.slice)
        if base.kind == "any":
            return ANY
        if base.kind in ("array", "string"):
            if key.kind not in ("integer", "any"):
                self.problem(node.slice, "type-mismatch", f"a list index must be a whole number, not {key.word}")
            return (base.item or ANY) if base.kind == "array" else STRING
        if base.kind == "object":
            if key.kind not in ("string", "any"):
                self.problem(node.slice, "type-mismatch", f"a mapping key must be text, not {key.word}")
            return ANY
        self.problem(node, "type-mismatch", f"cannot index {base.word}")
        return ANY

    def visit_Compare(self, node: ast.Compare) -> Type:
        operands = [node.left, *node.comparators]
        types = [self.visit(operand) for operand in operands]
        for index, op in enumerate(node.ops):
            left_node, right_node = operands[index], operands[index + 1]
            left, right = types[index], types[index + 1]
            symbol = _CMP_SYMBOL[type(op)]
            if isinstance(op, (ast.Is, ast.IsNot)):
                raise self.fatal(node, "forbidden-syntax", f"'{symbol}' is not allowed",
                                 "use '==' to compare values, or has(field) to test presence")
            if isinstance(op, (ast.In, ast.NotIn)):
                self.check_membership(left_node, left, right_node, right, symbol)
                continue
            ordered = not isinstance(op, (ast.Eq, ast.NotEq))
            left, right = self.coerce_moment(left_node, left, right_node, right)
            types[index], types[index + 1] = left, right
            if not _comparable(left, right, ordered):
                hint = None
                if {left.kind, right.kind} & NUMERIC and "string" in (left.kind, right.kind):
                    hint = "numbers are written without quotes"
                what = "order" if ordered else "compare"
                self.problem(node, "type-mismatch", f"cannot {what} {left.word} and {right.word} with '{symbol}'", hint)
                continue
            self.check_enum_literal(left, right_node)
            self.check_enum_literal(right, left_node)
        return BOOLEAN

    def check_membership(self, left_node: ast.AST, left: Type, right_node: ast.AST, right: Type, symbol: str) -> None:
        if right.kind == "any":
            return
        if right.kind == "string":
            if left.kind not in ("string", "any"):
                self.problem(left_node, "type-mismatch", f"'{symbol}' text needs text on the left, not {left.word}")
            return
        if right.kind == "object":
            if left.kind not in ("string", "any"):
                self.problem(left_node, "type-mismatch", f"'{symbol}' a mapping needs a key (text) on the left, not {left.word}")
            return
        if right.kind != "array":
            self.problem(right_node, "type-mismatch", f"'{symbol}' needs a list or text on the right, not {right.word}",
                         "write the values as a list, e.g. x in ['a', 'b']")
            return
        item = right.item or ANY
        if isinstance(right_node, (ast.List, ast.Tuple, ast.Set)) and left.kind in ("date", "datetime"):
            for element in right_node.elts:
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    self.moment_literal(element, left.kind)
            return
        if not _comparable(left, item, ordered=False):
            self.problem(left_node, "type-mismatch", f"cannot look for {left.word} in {right.word}")
            return
        if isinstance(right_node, (ast.List, ast.Tuple, ast.Set)):
            for element in right_node.elts:
                self.check_enum_literal(left, element)
        elif item.enum is not None:
            self.check_enum_literal(item, left_node)

    def check_enum_literal(self, typ: Type, literal: ast.AST) -> None:
        """A literal compared with an enum input must be one of its values."""
        if typ.enum is None or not isinstance(literal, ast.Constant):
            return
        value = literal.value
        if any(json_equal(value, option) for option in typ.enum):
            return
        options = ", ".join(repr(o) for o in typ.enum)
        hint = did_you_mean(value, typ.enum) if isinstance(value, str) else None
        self.problem(
            literal,
            "enum-value",
            f"{value!r} is not a value of '{typ.source}' (one of {options})",
            hint or f"'{typ.source}' is declared with enum: [{', '.join(str(o) for o in typ.enum)}]",
        )

    def coerce_moment(self, left_node: ast.AST, left: Type, right_node: ast.AST, right: Type) -> tuple[Type, Type]:
        """A text literal compared with a date or date-time input is read as one, here and now."""
        if left.kind in ("date", "datetime") and right.kind == "string" and isinstance(right_node, ast.Constant):
            return left, self.moment_literal(right_node, left.kind)
        if right.kind in ("date", "datetime") and left.kind == "string" and isinstance(left_node, ast.Constant):
            return self.moment_literal(left_node, right.kind), right
        return left, right

    def moment_literal(self, node: ast.Constant, kind: str) -> Type:
        parsed = parse_date(node.value) if kind == "date" else parse_datetime(node.value)
        if parsed is None:
            example = "2026-11-22" if kind == "date" else "2026-11-22T09:30:00Z"
            self.problem(node, "type-mismatch", f"{node.value!r} is not {TYPE_WORDS[kind]}", f"write it as '{example}'")
            return Type(kind)
        self.constants[id(node)] = parsed
        self.types[id(node)] = Type(kind)
        return Type(kind)

    def visit_Call(self, node: ast.Call) -> Type:
        if isinstance(node.func, ast.Attribute):
            method = node.func.attr
            hint = f"write {method}(x) instead of x.{method}()" if method in FUNCTIONS else None
            raise self.fatal(node.func, "forbidden-syntax", "method calls are not allowed", hint)
        if not isinstance(node.func, ast.Name):
            if type(node.func) in _FORBIDDEN:  # a lambda called: named once, by count()
                return ANY
            raise self.fatal(node.func, "forbidden-syntax", "only the built-in functions can be called")
        name = node.func.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            hint = did_you_mean(name, FUNCTIONS) or "available: " + ", ".join(FUNCTIONS)
            raise self.fatal(node.func, "unknown-function", f"unknown function '{name}'", hint)
        if node.keywords:
            raise self.fatal(node, "forbidden-syntax", "keyword arguments are not allowed", spec.usage)
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            self.problem(node, "wrong-arguments", f"{name}() takes {_arity(spec)}, not {count}", f"usage: {spec.usage}")
            return ANY
        if name == "has":
            return self.check_has(node)
        if name == "matches":
            return self.check_matches(node)
        if name in ("days_between", "days_since"):
            for argument in node.args:
                typ = self.visit(argument)
                if typ.kind == "string" and isinstance(argument, ast.Constant):
                    self.moment_literal(argument, "datetime" if ("T" in argument.value) else "date")
                elif typ.kind not in ("date", "datetime", "any"):
                    self.problem(argument, "type-mismatch", f"{name}() needs dates, not {typ.word}")
            return NUMBER
        types = [self.visit(argument) for argument in node.args]
        if name == "len":
            if types[0].kind not in ("string", "array", "object", "any"):
                self.problem(node.args[0], "type-mismatch", f"len() needs text or a list, not {types[0].word}")
            return INTEGER
        if name in ("lower", "upper"):
            if types[0].kind not in ("string", "any"):
                self.problem(node.args[0], "type-mismatch", f"{name}() needs text, not {types[0].word}")
            return STRING
        if name == "abs":
            if types[0].kind not in NUMERIC and types[0].kind != "any":
                self.problem(node.args[0], "type-mismatch", f"abs() needs a number, not {types[0].word}")
                return NUMBER
            return types[0].plain() if types[0].kind != "any" else ANY
        if name == "round":
            if types[0].kind not in NUMERIC and types[0].kind != "any":
                self.problem(node.args[0], "type-mismatch", f"round() needs a number, not {types[0].word}")
            if count == 2 and types[1].kind not in ("integer", "any"):
                self.problem(node.args[1], "type-mismatch", f"round() needs a whole number of digits, not {types[1].word}")
            return INTEGER if count == 1 else NUMBER
        # min / max
        if count == 1:
            if types[0].kind == "any":
                return ANY
            if types[0].kind != "array":
                self.problem(node.args[0], "type-mismatch", f"{name}() of one value needs a list, not {types[0].word}",
                             f"usage: {spec.usage}")
                return ANY
            return (types[0].item or ANY).plain()
        joined: Type | None = types[0]
        for argument, typ in zip(node.args[1:], types[1:]):
            joined = _join(joined, typ) if joined is not None else None
            if joined is None or joined.kind not in ("integer", "number", "string", "date", "datetime", "any"):
                self.problem(argument, "type-mismatch", f"{name}() needs values of one kind (numbers, text or dates)")
                return ANY
        return joined.plain() if joined is not None else ANY

    def check_has(self, node: ast.Call) -> Type:
        (argument,) = node.args
        dotted = argument.value if isinstance(argument, ast.Constant) and isinstance(argument.value, str) else dotted_name(argument)
        if dotted is None:
            self.problem(argument, "wrong-arguments", "has() takes the name of a field", "usage: has(field)")
            return BOOLEAN
        resolved = self.scope.resolve(dotted)
        if isinstance(resolved, str):
            self.problem(argument, "unknown-name", resolved, did_you_mean(dotted, self.scope.names()))
            return BOOLEAN
        self.refs[id(argument)] = resolved
        if resolved.input not in self.presence:
            self.presence.append(resolved.input)
        return BOOLEAN

    def check_matches(self, node: ast.Call) -> Type:
        text, pattern = node.args
        typ = self.visit(text)
        if typ.kind not in ("string", "any"):
            self.problem(text, "type-mismatch", f"matches() needs text, not {typ.word}")
        if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
            self.problem(pattern, "wrong-arguments", "matches() needs the pattern written as text in quotes",
                         "the pattern is checked when the policy loads, so it must be a literal")
            return BOOLEAN
        control = next((char for char in pattern.value if ord(char) < 32 and char not in "\t\n\r"), None)
        if control is not None:  # '\b' and '\1' in quotes are a backspace and \x01 before RE2 sees them
            escape = {"\b": "\\b"}.get(control, f"\\{ord(control):o}")
            self.problem(pattern, "invalid-regex",
                         f"the pattern holds the control character {control!r}, which the text '{escape}' stands for "
                         "in quotes", "write the pattern as r'...' (r'\\b', r'\\d'), or double the backslash ('\\\\b')")
            return BOOLEAN
        try:
            self.regexes[id(node)] = Pattern(pattern.value)
        except PatternError as error:
            self.problem(pattern, "invalid-regex", f"invalid regular expression: {error}",
                         "patterns are RE2's syntax, matched in time linear in the text: no back-references (\\1) "
                         "or look-arounds ((?=...), (?<=...)), repetition counts up to 1,000")
        except ImportError:  # an environment set up without Rulebook's dependencies
            self.problem(pattern, "invalid-regex", "matches() needs the google-re2 package, which is not installed",
                         "pip install google-re2 (installing Rulebook with pip brings it)")
        return BOOLEAN


def _arity(spec: FunctionSpec) -> str:
    if spec.max_args is None:
        return f"at least {spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
    if spec.min_args == spec.max_args:
        return f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
    return f"{spec.min_args} or {spec.max_args} arguments"


def reads_as_of(checked: Checked) -> bool:
    """Whether the expression calls days_since(), so its value depends on the run's as-of date."""
    return any(isinstance(node, ast.Call) and getattr(node.func, "id", None) == "days_since"
               for node in ast.walk(checked.tree))


def days_since_inputs(checked: Checked) -> dict[str, str]:
    """The inputs days_since() is called on directly, as written -> the declared input, in order."""
    found: dict[str, str] = {}
    for node in ast.walk(checked.tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "days_since" and len(node.args) == 1:
            reference = checked.refs.get(id(node.args[0]))
            written = dotted_name(node.args[0])
            if reference is not None and not reference.subpath and written is not None:
                found.setdefault(written, reference.input)
    return found


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attribute accesses on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _describe_node(node: ast.AST) -> str:
    return {
        "Compare": "this comparison",
        "Expr": "a statement",
    }.get(type(node).__name__, f"'{type(node).__name__}' syntax")


def source_segment(checked: Checked, node: ast.AST) -> str:
    """The text of a sub-expression as the author wrote it."""
    return ast.get_source_segment(checked.source, node) or ast.unparse(node)


def _nesting(tree: ast.AST) -> int:
    """How many expressions deep `tree` nests (`a + b` is 2)."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))
    return deepest


def split_condition(checked: Checked) -> tuple[str, list[ast.expr]] | None:
    """For `a and b` / `a or b` / `not a` at the top: the connective and its parts."""
    tree = checked.tree
    if isinstance(tree, ast.BoolOp):
        return ("all" if isinstance(tree.op, ast.And) else "any"), list(tree.values)
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not):
        return "not", [tree.operand]
    return None


def sub_checked(checked: Checked, node: ast.expr) -> Checked:
    """One part of `checked` as an expression of its own (its text, span, reads, presence)."""
    has_arguments = {
        id(call.args[0])
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "has" and call.args
    }
    reads: list[str] = []
    presence: list[str] = []
    for sub in _in_source_order(node):
        ref = checked.refs.get(id(sub))
        if ref is not None:
            target = presence if id(sub) in has_arguments else reads
            if ref.input not in target:
                target.append(ref.input)
    return Checked(
        text=source_segment(checked, node),
        tree=node,
        type=BOOLEAN,
        reads=tuple(reads),
        presence=tuple(presence),
        regexes=checked.regexes,
        refs=checked.refs,
        constants=checked.constants,
        types=checked.types,
        source=checked.source,
        span=checked.span_of(node),
        span_of=checked.span_of,
    )


def _in_source_order(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _in_source_order(child)


def walk_names(checked: Checked) -> Iterator[tuple[ast.AST, Reference]]:
    """Every name node of the expression with what it refers to."""
    for node in ast.walk(checked.tree):
        ref = checked.refs.get(id(node))
        if ref is not None:
            yield node, ref
