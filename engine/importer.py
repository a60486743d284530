"""Import: a plain rule list written for another engine, made a Rulebook classification policy.

Many teams start from rules they already have as a list: an id, an outcome and a `when`
expression each, tried in order, with a default (the shared benchmark's reference policy is
written so). Rulebook needs more than that: every input the expressions read must be
declared with its type. `translate` keeps the rules as they are and declares those inputs,
each with the type that sample items hold for it (or, where no sample holds it, the type of
the constants the rules compare it with). The result is checked as any policy is, and meant
to be read and tightened by hand: enums, bounds, defaults and descriptions are for people to
add, since samples only show what has been seen.
"""

from __future__ import annotations

import ast
import copy
import keyword
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .errors import Diagnostic, PolicyError, Span, listed
from .expressions import dotted_name, forbidden_syntax, parse_python
from .inputs import ABSENT, FALSE_WORDS, TRUE_WORDS, lookup
from .loader import Document, parse_documents
from .sandbox import type_word_of
from .validate import rulebook_document

# how other engines name the order in which rules decide, as Rulebook's `hit`
HIT_NAMES = {
    "first": "first", "first_match": "first", "first-match": "first", "firstmatch": "first", "first_hit": "first",
    "priority": "priority", "unique": "unique", "collect": "collect", "all": "collect", "all_matches": "collect",
    "rule_order": "first", "ordered": "first",
}
# the words rule lists use for a rule's parts, Rulebook's own first
_OUTCOME_KEYS = ("outcome", "then", "result")
_WHEN_KEYS = ("when", "condition", "if")
_BECAUSE_KEYS = ("because", "description", "reason")
# JSON's words for constants, which rule lists written for other engines use; read as
# constants unless the sample items hold a field of that name
_CONSTANT_NAMES = {"true": True, "false": False, "null": None}
# names rule lists give the whole item (`item['cost']`), where no sample item has such a field
_WHOLE_ITEM_NAMES = {"item", "it", "ticket", "record", "row", "event", "input", "data", "fact", "facts", "doc", "x"}


@dataclass(frozen=True, slots=True)
class ImportedInput:
    """One declared input of the translation, and what its type was inferred from."""

    name: str
    type: str
    items: str | None  # the type of a list's elements, where every sampled element has one
    evidence: str  # "samples", "rules", or "mixed": the rules chose among the samples' types
    seen: tuple[str, ...] = ()  # the types the samples hold, where they disagree


@dataclass(frozen=True, slots=True)
class Translation:
    """The Rulebook policy text, and the inputs it declares."""

    text: str
    inputs: tuple[ImportedInput, ...]
    samples: int
    # fields read by get() with a value for missing that some sample holds null for: Python's
    # get() gives None there, the translation (null counting as missing) that value
    null_defaults: tuple[str, ...] = ()
    # fields tested with `'k' in item` that some sample holds null for: Python counts the key
    # as there, the translation (has()) as missing
    null_members: tuple[str, ...] = ()

    @property
    def unseen(self) -> tuple[str, ...]:
        """The inputs no sample item holds, typed from the rules alone (where there were samples)."""
        return tuple(spec.name for spec in self.inputs if _unseen(spec, self.samples))

    @property
    def mixed(self) -> tuple[ImportedInput, ...]:
        """The inputs the sample items hold values of several types for, typed as the rules compare them."""
        return tuple(spec for spec in self.inputs if spec.evidence == "mixed")


def _unseen(spec: ImportedInput, samples: int) -> bool:
    return bool(samples) and spec.evidence == "rules"


def translate(text: str, file: str, samples: Iterable[Any] = (), *, text_values: bool = False) -> Translation:
    """The Rulebook policy for the rule list `text` (read from `file`), with inputs typed from
    `samples` (items; `text_values`: every value is text, as CSV has it). Raises PolicyError
    with the rule list's own locations where it cannot be translated, or where the
    translation is not a valid policy."""
    documents, problems = parse_documents(text, file)
    if problems:
        raise PolicyError(problems)
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        where = documents[0].span if documents else Span(file, 1, 1)
        raise PolicyError([Diagnostic("import-shape", "expected one YAML mapping holding a list of rules", where,
                                      "a rule list has 'rules:' with an id, an outcome and a 'when' for each")])
    document = documents[0]
    if rulebook_document(document.data):
        raise PolicyError([Diagnostic("import-shape", "this is a Rulebook policy already", document.key_span(
            ("rulebook",) if "rulebook" in document.data else ("kind",)), "check it with: rulebook validate FILE")])
    rules, problems = _rules(document)
    _default(document, problems)
    samples = list(samples)
    fields = {key for item in samples if isinstance(item, dict) for key in item}
    kinds = _SampleKinds(samples, text_values)
    defaulted: set[str] = set()
    members: set[str] = set()
    rules, reads = _reads(document, rules, fields, kinds, problems, defaulted, members)
    if problems:
        raise PolicyError(_in_order(problems))
    inputs = [_declared(name, span, kinds, usage, problems) for name, (span, usage) in reads.items()]
    hit = _hit(document, problems)
    if problems:
        raise PolicyError(_in_order(problems))
    declared = tuple(spec for spec in inputs if spec is not None)
    policy_text, rule_lines = _policy_text(document, rules, declared, hit, len(samples))
    _check(policy_text, file, rule_lines)

    def nulls(names: set[str]) -> tuple[str, ...]:
        return tuple(name for name in sorted(names) if any(_holds_null(item, name.split(".")) for item in samples))

    return Translation(policy_text, declared, len(samples), nulls(defaulted), nulls(members))


def _holds_null(item: Any, path: list[str]) -> bool:
    """Whether the item holds null at `path` (not merely lacks it)."""
    for part in path[:-1]:
        item = item.get(part) if isinstance(item, dict) else None
    return isinstance(item, dict) and path[-1] in item and item[path[-1]] is None


def _in_order(problems: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(problems, key=lambda problem: (problem.span.line, problem.span.column) if problem.span else (0, 0))


# -- reading the rule list ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    outcome: str
    when: Any  # an expression, or an all/any/not tree of them, as written
    because: str | None
    priority: Any
    path: tuple[Any, ...]  # where the rule is in the document
    when_key: str = "when"  # the key its condition is written under


def _rules(document: Document) -> tuple[list[_Rule], list[Diagnostic]]:
    data, problems, rules = document.data, [], []
    listed = data.get("rules")
    if not isinstance(listed, list) or not listed:
        problems.append(Diagnostic("import-shape", "expected 'rules:' with a list of rules", document.key_span(("rules",)),
                                   "each rule has an id, an outcome and a 'when' expression"))
        return rules, problems
    for index, rule in enumerate(listed):
        path = ("rules", index)
        if not isinstance(rule, dict):
            problems.append(Diagnostic("import-rule", "a rule must be a mapping", document.value_span(path)))
            continue
        outcome, when = (next((key for key in keys if rule.get(key) not in (None, "")), None)
                         for keys in (_OUTCOME_KEYS, _WHEN_KEYS))
        missing = [word for word, key in (("outcome", outcome), ("when", when)) if key is None]
        if outcome is None or when is None:
            problems.append(Diagnostic("import-rule", f"this rule has no {' and no '.join(missing)}",
                                       document.value_span(path), "every rule needs an outcome and a 'when' expression"))
            continue
        both = [next((key for key in keys[keys.index(first) + 1:] if key in rule), None)
                for keys, first in ((_OUTCOME_KEYS, outcome), (_WHEN_KEYS, when))]
        for first, second in zip((outcome, when), both):
            if second is not None:  # which one the other engine reads is not for a translation to guess
                problems.append(Diagnostic("import-rule", f"this rule has both '{first}' and '{second}'",
                                           document.key_span(path + (second,)), "keep one of them"))
        if not _is_name(rule[outcome]):
            problems.append(Diagnostic("import-rule", f"an outcome is a name, not {type_word_of(rule[outcome])}",
                                       document.value_span(path + (outcome,)), "write one outcome, such as 'initiative'"))
            continue
        because = next((str(rule[key]) for key in _BECAUSE_KEYS if rule.get(key) not in (None, "")), None)
        rules.append(_Rule(str(rule.get("id", f"r{index + 1}")), str(rule[outcome]), rule[when], because,
                           rule.get("priority"), path, when))
    return rules, problems


def _is_name(value: Any) -> bool:
    """Whether `value` can name an outcome: text, or a number (written as its text)."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _default(document: Document, problems: list[Diagnostic]) -> None:
    """Report a default that names no outcome (`default: {foo: a}`, a list)."""
    default = document.data.get("default")
    if default is None:
        return
    outcome = default.get("outcome") if isinstance(default, dict) else default
    if isinstance(default, dict) and "outcome" not in default:
        problems.append(Diagnostic("import-default", "the default names no outcome", document.value_span(("default",)),
                                   "write 'default: OUTCOME', or 'default: {outcome: OUTCOME}'"))
    elif not _is_name(outcome):
        at = ("default", "outcome") if isinstance(default, dict) else ("default",)
        problems.append(Diagnostic("import-default", f"an outcome is a name, not {type_word_of(outcome)}",
                                   document.value_span(at), "write one outcome, such as 'routine_ticket'"))


def _hit(document: Document, problems: list[Diagnostic]) -> str:
    for key in ("hit", "strategy", "hit_policy"):
        if key in document.data:
            written = str(document.data[key])
            hit = HIT_NAMES.get(written.lower())
            if hit is None:
                problems.append(Diagnostic("import-hit", f"unknown rule order '{written}'", document.value_span((key,)),
                                           "known: " + ", ".join(sorted(HIT_NAMES))))
            return hit or "first"
    return "first"


def _reads(document: Document, rules: list[_Rule], fields: set[str], kinds: _SampleKinds,
           problems: list[Diagnostic], defaulted: set[str],
           members: set[str]) -> tuple[list[_Rule], dict[str, tuple[Span, set[str]]]]:
    """The rules with their expressions in Rulebook's words (see _Rewrite and _Truth), and
    every name they read, in order of first use: where it is first read, and the kinds of
    constant it is compared with (or "boolean" where it stands alone). The names read by
    get() with a value for missing are added to `defaulted`, those tested with `'k' in item`
    to `members`."""
    reads: dict[str, tuple[Span, set[str]]] = {}

    def expression(text: str, path: tuple[Any, ...]) -> str:
        span = document.value_span(path)
        try:
            tree = parse_python(text.strip())
        except SyntaxError as error:
            problems.append(Diagnostic("import-expression", f"not an expression: {error.msg}", span,
                                       "write the condition as a comparison, e.g. cost >= 1000"))
            return text
        rewrite = _Rewrite(fields)
        tree = rewrite.visit(tree)
        defaulted.update(rewrite.defaulted)
        members.update(rewrite.members)
        forbidden = forbidden_syntax(tree)
        if forbidden is not None:  # told here: the names it binds are no inputs to type
            node, message, hint = forbidden
            if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
                hint = ("any() and all() over a list written out are translated; over an input, write the "
                        "condition by hand (e.g. 'db' in tags)")
            problems.append(Diagnostic("import-expression", message, span, hint))
            return text
        method = next((node.func.attr for node in ast.walk(tree)
                       if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)), None)
        if method is not None:  # told here, before the type of what it is called on
            what = f"this use of '.{method}()'" if method in _METHODS else f"'.{method}()'"
            problems.append(Diagnostic("import-expression", f"{what} has no translation", span,
                                       "translated: .lower(), .upper(), .startswith(), .endswith() and .get(); "
                                       "write this condition by hand"))
            return text
        truth = _Truth(kinds)
        tree.body = truth.of(truth.visit(tree.body))
        for name, usage in _names(tree.body):
            reads.setdefault(name, (span, set()))[1].update(usage)
        return ast.unparse(tree) if rewrite.changed or truth.changed else text

    def when(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            return {key: when(child, path + (key,)) for key, child in value.items()}
        if isinstance(value, list):
            return [when(child, path + (index,)) for index, child in enumerate(value)]
        return expression(value, path) if isinstance(value, str) else value

    translated = [replace(rule, when=when(rule.when, rule.path + (rule.when_key,))) for rule in rules]
    return translated, reads


class _Rewrite(ast.NodeTransformer):
    """Python idioms a rule list may use, in Rulebook's words: `s.lower()` as `lower(s)` (and
    upper), `s.startswith('x')` and `s.endswith(('x', 'y'))` as `matches()` of an escaped
    pattern (and `s[:3] == 'SEC'`, `s[-2:] in ('EU', 'US')` with texts of the slice's length),
    `x is None` as `not has(x)`, `x is not None` as `has(x)`, `x is True` as
    `x == True`, `'k' in item` (item standing for the whole item) as `has(k)`, a field of a mapping,
    `service['tier']` or `service.get('tier')`, as the nested input `service.tier` (declared
    with its own type, so it is checked and read as fast as any other; `item['cost']`, where
    `item` is a usual name for the whole item and the samples hold `cost` but no `item` (or
    there are no samples), as `cost`; `service.get('tier', 4)` as `service.tier if has(service.tier) else 4`;
    `item.get('service', {}).get('tier')` as `service.tier`), `any()`
    or `all()` over a list written out, `any(t in tags for t in ('a', 'b'))`, as `'a' in tags
    or 'b' in tags`, and `true`, `false` and `null` as Python's constants where no sample
    holds a field of that name."""

    def __init__(self, fields: set[str]):
        self.fields = fields  # the top-level fields of the sample items
        self.changed = False
        self.defaulted: set[str] = set()  # the names read by get() with a value for missing
        self.members: set[str] = set()  # the names tested with `'k' in item`

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        node.value = _through(node.value)
        self.generic_visit(node)
        key, value = node.slice, node.value
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.isidentifier()
                and not keyword.iskeyword(key.value) and dotted_name(value)):
            return node
        if (isinstance(value, ast.Name) and value.id in _WHOLE_ITEM_NAMES and value.id not in self.fields
                and (key.value in self.fields or not self.fields)):  # without samples, the usual name is the item
            return self._changed(ast.Name(key.value, ast.Load()))
        return self._changed(ast.Attribute(value, key.value, ast.Load()))

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _CONSTANT_NAMES and node.id not in self.fields:
            return self._changed(ast.Constant(_CONSTANT_NAMES[node.id]))
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # a dotted name is one input, whatever its parts are called (`null.count`)
        return node if dotted_name(node) else self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            node.func.value = _through(node.func.value)
        self.generic_visit(node)
        expanded = _expanded(node)
        if expanded is not None:  # its parts, with the names bound, may hold idioms of their own
            return self._changed(self.visit(expanded))
        func = node.func
        if not isinstance(func, ast.Attribute) or node.keywords:
            return node
        if func.attr in ("lower", "upper") and not node.args:
            return self._changed(ast.Call(ast.Name(func.attr, ast.Load()), [func.value], []))
        if func.attr == "get" and 1 <= len(node.args) <= 2 and dotted_name(func.value):
            field = self.visit_Subscript(ast.Subscript(func.value, node.args[0], ast.Load()))
            if isinstance(field, ast.Subscript):
                return node  # not a field's name: left for the check to refuse
            if len(node.args) == 1:  # None where it is missing, as the field itself reads
                return self._changed(field)
            self.defaulted.add(dotted_name(field) or "")
            return self._changed(ast.IfExp(_has(field), field, node.args[1]))
        if func.attr in ("startswith", "endswith") and len(node.args) == 1:
            argument = node.args[0]
            texts = _texts(argument.elts if isinstance(argument, ast.Tuple) else [argument])
            if texts is not None:
                return self._changed(_affix(func.value, texts, at_start=func.attr == "startswith"))
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        left, right = node.left, node.comparators[0]
        if isinstance(node.ops[0], (ast.Eq, ast.NotEq)) and _sliced(right) is not None:  # 'SEC' == s[:3]
            left, right = right, left
        sliced = _sliced(left)
        if sliced is not None:
            # `s[:3] == 'SEC'` is `s.startswith('SEC')` (and `s[-3:]` endswith) for a text of
            # that length; a shorter one would equal a shorter s: left for the check to refuse
            value, length, at_start = sliced
            negated = isinstance(node.ops[0], (ast.NotEq, ast.NotIn))
            if isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                texts = _texts([right])
            elif isinstance(node.ops[0], (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
                texts = _texts(right.elts)
            else:
                texts = None
            if texts and all(len(text) == length for text in texts):
                affix = _affix(value, texts, at_start=at_start)
                return self._changed(ast.UnaryOp(ast.Not(), affix) if negated else affix)
            return node
        if (isinstance(node.ops[0], (ast.In, ast.NotIn)) and isinstance(right, ast.Name)
                and right.id in _WHOLE_ITEM_NAMES and right.id not in self.fields and isinstance(left, ast.Constant)
                and isinstance(left.value, str) and (left.value in self.fields or not self.fields)
                and left.value.isidentifier()
                and not keyword.iskeyword(left.value)):
            # `'owner' in item`, where item stands for the whole item, is whether it holds owner
            self.members.add(left.value)
            return self._changed(_has(ast.Name(left.value, ast.Load()), negated=isinstance(node.ops[0], ast.NotIn)))
        if (isinstance(node.ops[0], (ast.Is, ast.IsNot))
                and any(isinstance(side, ast.Constant) and isinstance(side.value, bool) for side in (left, right))):
            # `flag is True` is `flag == True` where flag is true or false (the check refuses
            # it where flag is typed otherwise), and false where flag is None, as below
            operator = ast.Eq() if isinstance(node.ops[0], ast.Is) else ast.NotEq()
            return self._changed(ast.Compare(left, [operator], [right]))
        if isinstance(left, ast.Constant) and left.value is None:  # None == x, as x == None
            left, right = right, left
        if not (isinstance(right, ast.Constant) and right.value is None and dotted_name(left)):
            return node
        if isinstance(node.ops[0], (ast.IsNot, ast.NotEq)):
            return self._changed(_has(left))
        if isinstance(node.ops[0], (ast.Is, ast.Eq)):
            return self._changed(_has(left, negated=True))
        return node

    def _changed(self, node: ast.AST) -> ast.AST:
        self.changed = True
        return node


def _texts(nodes: list[ast.expr]) -> list[str] | None:
    """The texts written as `nodes`, or None if any is not a text constant."""
    if all(isinstance(node, ast.Constant) and isinstance(node.value, str) for node in nodes):
        return [node.value for node in nodes]  # type: ignore[attr-defined]
    return None


def _affix(value: ast.AST, texts: list[str], *, at_start: bool) -> ast.Call:
    """`matches(value, ...)` of a pattern: starts (or ends) with one of `texts`, as written."""
    import re

    choices = "|".join(re.escape(text) for text in texts)
    choices = f"(?:{choices})" if len(texts) > 1 else choices
    return ast.Call(ast.Name("matches", ast.Load()), [value, ast.Constant("^" + choices if at_start else choices + "$")], [])


def _sliced(node: ast.AST) -> tuple[ast.AST, int, bool] | None:
    """`s[:n]` as (s, n, True) and `s[-n:]` as (s, n, False), for n > 0; else None."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.step is None):
        return None
    lower, upper = node.slice.lower, node.slice.upper
    if lower is None and isinstance(upper, ast.Constant) and type(upper.value) is int and upper.value > 0:
        return node.value, upper.value, True
    if (upper is None and isinstance(lower, ast.UnaryOp) and isinstance(lower.op, ast.USub)
            and isinstance(lower.operand, ast.Constant) and type(lower.operand.value) is int and lower.operand.value > 0):
        return node.value, lower.operand.value, False
    return None


def _has(field: ast.AST, *, negated: bool = False) -> ast.AST:
    """`has(field)`, or `not has(field)`."""
    present = ast.Call(ast.Name("has", ast.Load()), [copy.deepcopy(field)], [])
    return ast.UnaryOp(ast.Not(), present) if negated else present


def _through(receiver: ast.AST) -> ast.AST:
    """`x.get('k', {})` read further (`x.get('k', {}).get('c')`, `...['c']`) as `x['k']`: where
    x lacks k, Python reads a field of the empty mapping as missing, as Rulebook reads `x.k.c`."""
    if (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute) and receiver.func.attr == "get"
            and len(receiver.args) == 2 and not receiver.keywords and isinstance(receiver.args[1], ast.Dict)
            and not receiver.args[1].keys):
        return ast.Subscript(receiver.func.value, receiver.args[0], ast.Load())
    return receiver


def _expanded(call: ast.Call) -> ast.AST | None:
    """`any(...)` or `all(...)` of one generator over a list written out, as an `or` or `and`
    of its expression for each element; None for any other call."""
    func, arguments = call.func, call.args
    if not (isinstance(func, ast.Name) and func.id in ("any", "all") and len(arguments) == 1 and not call.keywords
            and isinstance(arguments[0], ast.GeneratorExp) and len(arguments[0].generators) == 1):
        return None
    generator = arguments[0]
    loop = generator.generators[0]
    if (loop.ifs or loop.is_async or not isinstance(loop.target, ast.Name)
            or not isinstance(loop.iter, (ast.Tuple, ast.List)) or not loop.iter.elts):
        return None
    parts = [_Bound(loop.target.id, element).visit(copy.deepcopy(generator.elt)) for element in loop.iter.elts]
    return parts[0] if len(parts) == 1 else ast.BoolOp(ast.Or() if func.id == "any" else ast.And(), parts)


class _Bound(ast.NodeTransformer):
    """An expression with a name bound to another expression."""

    def __init__(self, name: str, value: ast.AST):
        self.name, self.value = name, value

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return copy.deepcopy(self.value) if node.id == self.name else node


# the methods a rule list may call that are translated (see _Rewrite)
_METHODS = ("lower", "upper", "startswith", "endswith", "get")
# Python's conversions, and the kinds of value each gives back as it is (float(2) == 2)
_SAME_VALUE = {"int": {"integer"}, "float": {"integer", "number"}, "str": {"string"}}
# what is false in Python, for each kind of input (a list by its length)
_ZEROS: dict[str, Any] = {"integer": 0, "number": 0, "string": "", "array": 0}


class _Truth(ast.NodeTransformer):
    """Python's truth of a number, a text or a list, where a rule list leans on it (`count and
    funded`, `not note`, `tags`), written out as the sample items' types say: `count != 0`,
    `note == ''`, `len(tags) != 0`; where some sample lacks the field, missing is false, as
    Python's None: `has(count) and count != 0`, `not has(note) or note == ''`; a constant as
    its truth, and each branch of `a if c else b` so. (Rulebook's conditions are true or
    false, never a number.) Such a field compared with a constant is compared as Python
    compares None: `owner != 'ops'` as `not has(owner) or owner != 'ops'`, `owner == 'ops'` as
    `has(owner) and owner == 'ops'` (and `in`, `not in` alike; None among the values as true
    where it is missing; two such fields as equal where both are missing), where Rulebook's
    comparison of a missing field is unknown, which a `not` would keep from being true."""

    def __init__(self, kinds: _SampleKinds):
        self.kinds = kinds
        self.changed = False

    # the operands of a comparison, an arithmetic operation and a call are values
    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.value(argument) for argument in node.args]
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in _SAME_VALUE and len(node.args) == 1 and not node.keywords:
            field = dotted_name(node.args[0])
            if field is not None and self.kinds.of(field)[0] and self.kinds.of(field)[0] <= _SAME_VALUE[name]:
                self.changed = True  # int(count) of whole numbers is count
                if name == "str" and self.kinds.sometimes_missing(field):  # str(None) is 'None'
                    return ast.IfExp(_has(node.args[0]), node.args[0], ast.Constant("None"))
                return node.args[0]
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node.left, node.right = self.value(node.left), self.value(node.right)
        return node

    def value(self, node: ast.AST) -> ast.AST:
        """`node` visited where a value is wanted: Python's `a or b` there (`(cost or 0) > 5`,
        `len(tags or [])`) is a where it is true, else b, written as
        `cost if has(cost) and cost != 0 else 0`; as it is where the truth of a part cannot be
        written (see `of`)."""
        if not (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)):
            return self.visit(node)
        copies = [copy.deepcopy(part) for part in node.values[:-1]]
        tests = [self.of(part) for part in copies]
        if any(test is part for test, part in zip(tests, copies)):  # a boolean, or a kind without a truth
            return self.visit(node)
        *firsts, chosen = [self.value(part) for part in node.values]
        for test, part in reversed(list(zip(tests, firsts))):
            chosen = ast.IfExp(test, part, chosen)
        self.changed = True
        return chosen

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node.left, node.comparators = self.value(node.left), [self.value(operand) for operand in node.comparators]
        if len(node.ops) != 1:
            return node
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if isinstance(op, (ast.Eq, ast.NotEq)) and dotted_name(right) and not dotted_name(left):
            left, right = right, left
        name = dotted_name(left)
        if name is None or not isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
            return node
        positive = isinstance(op, (ast.Eq, ast.In))
        if dotted_name(right) and isinstance(op, (ast.Eq, ast.NotEq)):
            return self.fields_compared(left, right, positive) or node
        listed = right.elts if isinstance(right, (ast.List, ast.Tuple, ast.Set)) else []
        if any(isinstance(element, ast.Constant) and element.value is None for element in listed):
            # None among the values: true where the field is missing (`status in ('open', None)`)
            rest = type(right)([element for element in listed if not (isinstance(element, ast.Constant)
                                                                        and element.value is None)])
            if rest.elts and _constant_kind(rest) is None:
                return node
            self.changed = True
            missing = _has(left, negated=positive)
            if not rest.elts:
                return missing
            return ast.BoolOp(ast.Or() if positive else ast.And(), [missing, ast.Compare(left, [op], [rest])])
        if _constant_kind(right) is None or not self.kinds.sometimes_missing(name):
            return node
        self.changed = True
        guard = _has(left, negated=not positive)
        return ast.BoolOp(ast.And() if positive else ast.Or(), [guard, node])

    def fields_compared(self, left: ast.AST, right: ast.AST, equal: bool) -> ast.AST | None:
        """`x == y` of two fields, where some sample lacks either, as Python compares the None
        standing for a missing one: equal where both are missing, unequal where one is."""
        missing = [self.kinds.sometimes_missing(dotted_name(side) or "") for side in (left, right)]
        if not any(missing):
            return None
        self.changed = True
        both = [_has(side) for side, may_miss in zip((left, right), missing) if may_miss]
        equality = ast.BoolOp(ast.And(), [*both, ast.Compare(left, [ast.Eq()], [right])])
        if all(missing):  # both missing is equal too
            neither = ast.BoolOp(ast.And(), [_has(left, negated=True), _has(right, negated=True)])
            equality = ast.BoolOp(ast.Or(), [equality, neither])
        return equality if equal else ast.UnaryOp(ast.Not(), equality)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        node.values = [self.of(value) for value in node.values]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        falsity = self.of(node.operand, negated=True)  # `not note` as `note == ''`
        if falsity is not node.operand:
            return falsity
        node.operand = self.of(node.operand)
        return node

    def of(self, node: ast.AST, *, negated: bool = False, hint: str | None = None) -> ast.AST:
        """`node` as true or false (or its negation), where it names an input whose samples are
        numbers, texts or lists (or, in a branch of a conditional, that no sample holds and the
        other branch's constant is); anything else as it is."""
        if isinstance(node, ast.IfExp):  # `count if has(count) else 0`, from a get(): each branch
            hint = _constant_kind(node.orelse) or _constant_kind(node.body)  # the value for missing
            body, orelse = (self.of(branch, negated=negated, hint=hint) for branch in (node.body, node.orelse))
            if body is node.body and orelse is node.orelse:
                return node
            if negated:  # a branch left as it is is still to be negated
                body = ast.UnaryOp(ast.Not(), body) if body is node.body else body
                orelse = ast.UnaryOp(ast.Not(), orelse) if orelse is node.orelse else orelse
            return ast.IfExp(node.test, body, orelse)
        if isinstance(node, ast.Constant) and hint in _ZEROS and type(node.value) in (int, float, str):
            self.changed = True
            return ast.Constant(bool(node.value) != negated)
        name = dotted_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        kind = (self.kinds.kind(name) or hint) if name else None
        if kind not in _ZEROS:
            return node
        self.changed = True
        value = ast.Call(ast.Name("len", ast.Load()), [node], []) if kind == "array" else node
        test = ast.Compare(value, [ast.Eq() if negated else ast.NotEq()], [ast.Constant(_ZEROS[kind])])
        if not self.kinds.sometimes_missing(name):
            return test
        if negated:
            return ast.BoolOp(ast.Or(), [_has(node, negated=True), test])
        return ast.BoolOp(ast.And(), [_has(node), test])


def _names(tree: ast.AST) -> Iterable[tuple[str, set[str]]]:
    """The (dotted) names an expression reads, each with what its use says of its type."""
    usage: dict[int, set[str]] = {id(tree): {"boolean"}}
    for node in ast.walk(tree):  # a node before its parts: what is said of it is said of them
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:]):
                if isinstance(op, (ast.In, ast.NotIn)):  # 'x' in name: a list or a text, it does not say
                    pairs = [(left, _constant_kind(right) if isinstance(right, (ast.List, ast.Tuple, ast.Set)) else None)]
                else:
                    pairs = [(left, _constant_kind(right)), (right, _constant_kind(left))]
                for operand, kind in pairs:
                    if kind is not None:
                        usage.setdefault(id(operand), set()).add(kind)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                usage.setdefault(id(value), set()).add("boolean")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            usage.setdefault(id(node.operand), set()).add("boolean")
        elif isinstance(node, ast.IfExp):  # either branch may be the value: both are of its type
            for branch, other in ((node.body, node.orelse), (node.orelse, node.body)):
                kinds = usage.setdefault(id(branch), set())
                # but a conditional read for its truth (`x.get('n', 0)` as a condition) may be of any type
                kinds.update(usage.get(id(node), set()) - {"boolean"})
                if (kind := _constant_kind(other)) is not None:
                    kinds.add(kind)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Call):
            skip.add(id(node.func))
        name = dotted_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name is None:
            continue
        for part in ast.walk(node):
            skip.add(id(part))  # the parts of a dotted name are not names of their own
        yield name, usage.get(id(node), set())


def _constant_kind(node: ast.AST) -> str | None:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        kinds = {_constant_kind(element) for element in node.elts}
        return kinds.pop() if len(kinds) == 1 else None
    if not isinstance(node, ast.Constant):
        return None
    value = node.value
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else None


# -- the types of the inputs ----------------------------------------------------------------------

_KINDS = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"))


def _kind(value: Any, text_values: bool) -> str | None:
    if text_values and isinstance(value, str):
        return _text_kind(value)
    for python, kind in _KINDS:
        if isinstance(value, python):
            return kind
    return None


# the words the checker reads as booleans in text, but for digits, which read as numbers here
_BOOLEAN_WORDS = (TRUE_WORDS | FALSE_WORDS) - {"1", "0"}


def _text_kind(text: str) -> str:
    if text.lower() in _BOOLEAN_WORDS:
        return "boolean"
    for convert, kind in ((int, "integer"), (float, "number")):
        try:
            convert(text)
            return kind
        except ValueError:
            pass
    return "string"


class _SampleKinds:
    """The kinds of value the sample items hold for each (dotted) name, read once a name."""

    def __init__(self, samples: list[Any], text_values: bool):
        self.samples, self.text_values = samples, text_values
        self._seen: dict[str, tuple[set[str], set[str | None]]] = {}
        self._missed: set[str] = set()  # the names some sample lacks (or holds null for)

    def of(self, name: str) -> tuple[set[str], set[str | None]]:
        """The kinds of the values held for `name` (integers and numbers together as
        "number"; "other" for what is none of the kinds), and of the elements of its lists."""
        if name not in self._seen:
            path = tuple(name.split("."))
            kinds: set[str] = set()
            elements: set[str | None] = set()
            for item in self.samples:
                value = lookup(item, path) if isinstance(item, dict) else ABSENT
                if value is ABSENT or (self.text_values and isinstance(value, str) and not value.strip()):
                    self._missed.add(name)  # an empty CSV cell is missing, as the checker reads it
                    continue
                kind = _kind(value, self.text_values)
                kinds.add(kind or "other")
                if kind == "array":
                    elements.update(_kind(element, self.text_values) for element in value)
            self._seen[name] = ({"number"} if kinds == {"integer", "number"} else kinds), elements
        return self._seen[name]

    def kind(self, name: str) -> str | None:
        """The one kind the samples hold for `name`, or None."""
        kinds = self.of(name)[0]
        return next(iter(kinds)) if len(kinds) == 1 else None

    def sometimes_missing(self, name: str) -> bool:
        """Whether some sample lacks `name` or holds null for it."""
        self.of(name)
        return name in self._missed


def _declared(name: str, span: Span, sample_kinds: _SampleKinds, usage: set[str],
              problems: list[Diagnostic]) -> ImportedInput | None:
    kinds, elements = (set(found) for found in sample_kinds.of(name))
    if len(kinds) == 1 and "other" not in kinds:
        kind = kinds.pop()
        element = elements.pop() if kind == "array" and len(elements) == 1 else None
        return ImportedInput(name, kind, element if element in ("string", "integer", "number", "boolean") else None,
                             "samples")
    if kinds:
        chosen = _chosen(kinds, usage)
        if chosen is not None:  # items holding another type are rejected, which the user is told
            return ImportedInput(name, chosen, None, "mixed", tuple(sorted(kinds)))
        problems.append(Diagnostic("import-type", f"the sample items hold values of several types for '{name}': "
                                   + ", ".join(sorted(kinds)), span,
                                   "nor do the rules compare it with a constant of one of them: make the samples "
                                   "agree, or translate without --items and declare its type by hand"))
        return None
    if len(usage) == 1:
        return ImportedInput(name, usage.pop(), None, "rules")
    compared = (f"the rules compare it with constants of several types ({listed(sorted(usage), quoted=False)})"
                if usage else "no rule compares it with a constant")
    problems.append(Diagnostic("import-type", f"cannot tell the type of '{name}'", span,
                               f"no sample item holds it and {compared}: give sample items that hold it (--items), "
                               "or declare it by hand"))
    return None


def _chosen(kinds: set[str], usage: set[str]) -> str | None:
    """The type the rules' constants give an input whose samples disagree, if it is one of theirs."""
    if len(usage) != 1:
        return None
    (used,) = usage  # a numeric constant is "number" (see _constant_kind)
    numeric = kinds & {"integer", "number"}
    if used == "number" and numeric:
        return "integer" if numeric == {"integer"} else "number"
    return used if used in kinds else None


# -- writing the policy ---------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """`value` as YAML on one line (quoted where YAML needs it)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...")


def _policy_text(document: Document, rules: list[_Rule], inputs: tuple[ImportedInput, ...], hit: str,
                 samples: int) -> tuple[str, list[tuple[int, int, Span]]]:
    data = document.data
    source = os.path.basename(document.file)
    evidence = f"{samples:,} sample items" if samples else "the constants the rules compare them with"
    lines = [f"# Translated from {source} by `rulebook import`; input types from {evidence}.",
             "# Review it: add enums, bounds, defaults and descriptions where the data calls for them.",
             "rulebook: 1", "kind: classification",
             f"name: {_scalar(str(data.get('policy') or data.get('name') or os.path.splitext(source)[0]))}",
             f"version: {_scalar(str(data.get('version', '1')))}"]
    if data.get("description"):
        lines.append(f"description: {_scalar(str(data['description']))}")
    lines.append("inputs:" if inputs else "inputs: {}  # the rules read no field")
    for spec in inputs:
        declared = {"type": spec.type, **({"items": {"type": spec.items}} if spec.items else {})}
        note = "  # no sample item holds it: typed from the rules" if _unseen(spec, samples) else ""
        if spec.evidence == "mixed":
            note = f"  # the samples hold {listed(spec.seen, quoted=False)}: typed as the rules compare it"
        lines.append(f"  {_scalar(spec.name)}: {_scalar(declared)}{note}")
    default = data.get("default")
    default_outcome = default.get("outcome") if isinstance(default, dict) else default
    outcomes = list(dict.fromkeys([rule.outcome for rule in rules] + ([str(default_outcome)] if default_outcome else [])))
    lines.append("outcomes:")
    lines += [f"  {_scalar(outcome)}: {_scalar(outcome.replace('_', ' ').replace('-', ' ').capitalize() + '.')}"
              for outcome in outcomes]
    lines.append(f"hit: {hit}")
    if default_outcome:
        lines.append(f"default: {_scalar(str(default_outcome))}")
    lines.append("rules:")
    rule_lines = []
    for rule in rules:
        start = len(lines) + 1
        lines += [f"  - id: {_scalar(rule.id)}", f"    outcome: {_scalar(rule.outcome)}", f"    when: {_scalar(rule.when)}"]
        if rule.because:
            lines.append(f"    because: {_scalar(rule.because)}")
        if hit == "priority" and rule.priority is not None:
            lines.append(f"    priority: {_scalar(rule.priority)}")
        rule_lines.append((start, len(lines), document.value_span(rule.path + (rule.when_key,))))
    return "\n".join(lines) + "\n", rule_lines


def _check(text: str, file: str, rule_lines: list[tuple[int, int, Span]]) -> None:
    """Load the translation as any policy is loaded; its problems are told at the rule list's
    rules they come from."""
    from .api import loads

    try:
        loads(text, file=f"<translation of {file}>")
    except PolicyError as error:
        import re

        def source_rule(line: int) -> Span | None:
            return next((span for start, end, span in rule_lines if start <= line <= end), None)

        def source_line(found: re.Match[str]) -> str:  # "the first is at line 16" of the translation
            rule = source_rule(int(found.group(1)))
            return f"line {rule.line}" if rule else found.group(0)

        told = []
        for diagnostic in error.diagnostics:
            rule = source_rule(diagnostic.span.line if diagnostic.span else 0)
            hint = re.sub(r"\bline (\d+)", source_line, diagnostic.hint) if diagnostic.hint else None
            told.append(Diagnostic(diagnostic.code, diagnostic.message + " (in the translation of this rule)",
                                   rule, hint) if rule else diagnostic)
        raise PolicyError(told) from None
