"""Evaluate stage: a compiled classification policy x an item -> a decision (and its trace).

An item first takes the fast form; if that cannot decide it (a field missing, a value not
as declared, an expression error) the item is checked field by field and evaluated by the
three-valued interpreter, which either decides it or names precisely what is wrong. Both
paths give the same decision for every item the fast form accepts (the tests hold them to
it). Traces are data: the item's checked inputs, from which the value of every condition
node follows (the careful path records the node values as it goes); the readable tree
(`Trace`) is built from them only when someone asks.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from msgspec.structs import astuple

from .compile import ConditionError, ConditionProgram, generate, rule_order
from .errors import ItemError
from .inputs import ABSENT, CheckedItem, ValueProblem, check_item, lookup
from .jsonio import Record
from .model import ClassificationPolicy, Condition, PolicyRef, Rule
from .sandbox import UNKNOWN, runtime_message, today


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a policy decides, independent of which item it decided for.

    For the `collect` hit policy, `outcome`, `rule` and `because` are tuples (one entry per
    matching rule, in order).
    """

    outcome: Any
    rule: Any
    because: Any
    rule_index: int  # 1-based number of the deciding rule; 0 when the default applied
    rules: tuple[Rule, ...]  # the rules that decided; empty when the default applied
    collect: bool = False

    @property
    def is_default(self) -> bool:
        return not self.rules

    # a verdict unpacks as (outcome, rule): `outcome, rule = policy.decide(item)`
    def __iter__(self) -> Iterator[Any]:
        return iter((self.outcome, self.rule))

    def __getitem__(self, index: int) -> Any:
        return (self.outcome, self.rule)[index]


class Decision(Record, gc=False):
    """The decision for one item: the verdict, the item's id and line, and its trace.

    Built for every item of a stream, so it is a record the garbage collector does not track
    (it refers to its item and policy, and nothing refers back to it).
    """

    item_id: Any
    verdict: Verdict
    policy: PolicyRef
    line: int | None = None
    _trace: Trace | None = None
    _classifier: Classifier | None = None
    _item: Any = None
    _recorded: Any = None  # what the evaluation recorded, for the trace (see Classifier.unpack)

    @property
    def outcome(self) -> Any:
        return self.verdict.outcome

    @property
    def rule(self) -> Any:
        return self.verdict.rule

    @property
    def because(self) -> Any:
        return self.verdict.because

    @property
    def rule_index(self) -> int:
        return self.verdict.rule_index

    @property
    def trace(self) -> Trace:
        """Every rule considered, with each condition's value and the inputs behind it."""
        if self._trace is None:
            if self._classifier is None:
                raise ValueError("this decision carries no item to trace")
            if self._recorded is not None:
                self._trace = self._classifier.build_trace(self.verdict, self._item, self._recorded)
            else:
                self._trace = self._classifier.trace(self._item)
        return self._trace

    def recorded_evaluation(self) -> tuple[Classifier, Any, CheckedItem] | None:
        """(classifier, condition node values, checked inputs) as the evaluation recorded
        them, when it did (classify with trace=True); None otherwise."""
        if self._recorded is None or self._classifier is None:
            return None
        nodes, checked = self._classifier.unpack(self._item, self._recorded)
        return self._classifier, nodes, checked

    def explain(self, format: str = "text") -> str:
        """The decision in plain language (`text`), as `markdown`, or as `json`."""
        from .explain import explain

        return explain(self, format)

    def __repr__(self) -> str:
        return f"Decision(item_id={self.item_id!r}, outcome={self.outcome!r}, rule={self.rule!r})"

    # like its verdict, a decision unpacks as (outcome, rule)
    def __iter__(self) -> Iterator[Any]:
        return iter(self.verdict)

    def __getitem__(self, index: int) -> Any:
        return self.verdict[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return (self.item_id, self.verdict, self.policy, self.line) == (other.item_id, other.verdict, other.policy, other.line)


class Rejection(Record, gc=False, frozen=True):
    """An item that could not be decided, and why."""

    item_id: Any
    line: int | None
    error: str
    policy: PolicyRef | None = None


# -- traces ---------------------------------------------------------------------------------------
# Records built in C, as decisions are: a trace is a few dozen of them, made for each item of
# a stream explained in full; each is a tree, so none takes part in a reference cycle.

TRUE, FALSE, UNKNOWN_WORD, SKIPPED = "true", "false", "unknown", "skipped"


class FieldValue(Record, frozen=True, gc=False):
    """An input a condition read: its value, and whether the item, a default or nobody gave it."""

    name: str
    value: Any
    source: str  # "item" | "default" | "missing"


class ConditionTrace(Record, frozen=True, gc=False):
    condition: Condition
    result: str  # "true" | "false" | "unknown" | "skipped"
    children: tuple[ConditionTrace, ...]
    inputs: tuple[FieldValue, ...]  # for expressions: the inputs it reads

    @property
    def missing(self) -> tuple[str, ...]:
        found: list[str] = []
        for node in self.walk():
            for read in node.inputs:
                if read.source == "missing" and read.name not in found:
                    found.append(read.name)
        return tuple(found)

    def walk(self) -> Iterator[ConditionTrace]:
        yield self
        for child in self.children:
            yield from child.walk()


class RuleTrace(Record, frozen=True, gc=False):
    rule: Rule
    result: str  # "true" | "false" | "unknown"
    condition: ConditionTrace

    @property
    def matched(self) -> bool:
        return self.result == TRUE


class Trace(Record, frozen=True, gc=False):
    """Why the decision came out as it did: the rules considered, in the order they were tried."""

    hit: str
    rules: tuple[RuleTrace, ...]
    not_considered: tuple[Rule, ...]  # rules after the deciding one (first / priority)
    default_applied: bool
    inputs: tuple[FieldValue, ...]  # every declared input of the item

    @property
    def missing(self) -> tuple[str, ...]:
        found: list[str] = []
        for rule in self.rules:
            for name in rule.condition.missing:
                if name not in found:
                    found.append(name)
        return tuple(found)


_NONE: frozenset[str] = frozenset()


def _picker(numbers: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function picking the values at `numbers` out of a tuple, as a tuple."""
    from operator import itemgetter

    if not numbers:
        return lambda values: ()
    if len(numbers) == 1:
        single = itemgetter(numbers[0])
        return lambda values: (single(values),)
    return itemgetter(*numbers)


def _word(value: Any) -> str:
    if value is None:
        return SKIPPED
    if value is UNKNOWN:
        return UNKNOWN_WORD
    return TRUE if value else FALSE


# -- the classifier ------------------------------------------------------------------------------------


TOLERANT_AFTER = 256  # items handed on by the first forms before the tolerant ones go first


class Classifier:
    """A classification policy made executable: decides items, and explains the decisions."""

    def __init__(self, policy: ClassificationPolicy, as_of: _dt.date | None = None):
        self.policy = policy
        self.as_of = as_of or today()  # the date days_since() counts to
        self.ref = policy.ref_as_of(self.as_of)
        self.program = ConditionProgram(policy.conditions, self.as_of)
        self.order = rule_order(policy)
        self.slots = len(policy.conditions)
        self.collect = policy.hit == "collect"
        default = policy.default
        self.default_verdict: Verdict | None = None
        if default is not None:
            because = default.because or "no rule matched; the policy's default applies"
            if self.collect:
                self.default_verdict = Verdict((default.outcome,), (None,), (because,), 0, (), True)
            else:
                self.default_verdict = Verdict(default.outcome, None, because, 0, ())
        # verdicts[k] is the verdict of rule number k; shared, so deciding allocates nothing
        self.verdicts: list[Verdict | None] = [self.default_verdict] + [
            Verdict(rule.outcome, rule.id, rule.because, rule.index, (rule,)) for rule in policy.rules
        ]
        self._combined: dict[tuple[int, ...], Verdict] = {}
        # for _checked_from: the inputs' names, and the paths of those with defaults
        self._input_names = tuple(spec.name for spec in policy.inputs)
        self._all_inputs = frozenset(self._input_names)
        self._defaulted_paths = tuple((spec.name, spec.path) for spec in policy.inputs if spec.has_default)
        self._declines = 0  # items the first forms handed on (see _note_decline)
        self._trace_builder: Callable[..., Trace] | None = None  # made when a first trace is read
        self.forms = generate(policy, self.verdicts, self.verdict, self._careful_decision, declined=self._declined,
                              as_of=self.as_of)
        self._optional_reads = self.forms.optional_reads  # where one is absent, conditions are unknown
        # the values of those inputs among the values the fast form recorded, as a tuple
        self._optional_values = _picker(self._optional_reads)
        # decide(item) -> the verdict; raises ItemError if the item cannot be decided. It is the
        # generated function itself, so deciding one item costs one call
        self.decide: Callable[[Any], Verdict] = self.forms.decide_verdict  # type: ignore[assignment]
        self._decide_many = self.forms.decide_many
        self._decide_traced = self.forms.decide_traced

    # -- deciding (`self.decide(item)`, the generated function, is set in __init__)

    def _careful_decision(self, item: Any) -> Verdict:
        # the fast forms decline anything unusual; the careful path decides it, or says why not
        return self.verdict(self.careful(item)[0])

    def _note_decline(self) -> None:
        """Count an item the first forms handed on. Where a policy's items often lack an
        optional input that a rule reads, the detour costs more than testing every item for
        absence, so after `TOLERANT_AFTER` of them the forms that test go first. Both kinds
        decide every item alike; only the time differs."""
        self._declines += 1
        if self._declines == TOLERANT_AFTER and self.forms.decide_many_tolerant is not None:
            self.decide = self.forms.decide_tolerant  # type: ignore[assignment]
            self._decide_many = self.forms.decide_many_tolerant
            self._decide_traced = self.forms.decide_traced_tolerant  # type: ignore[assignment]

    def _declined(self, item: Any) -> Verdict:
        self._note_decline()
        return self.forms.decide_tolerant(item)  # type: ignore[misc]  # set by generate()

    def decide_many(self, items: Iterable[Any]) -> list[Verdict | Rejection]:
        """The verdict for each item, in order (a rejection for an item that cannot be decided)."""
        return self._decide_many(items, self._careful_verdict)  # type: ignore[misc]

    def _careful_verdict(self, item: Any) -> Verdict | Rejection:
        try:
            return self._declined(item)
        except ItemError as error:
            item_id = item.get("id") if isinstance(item, dict) else None
            return Rejection(item_id, None, error.message, self.ref)

    def classify(self, item: Any, *, trace: bool = False, line: int | None = None, id_field: str = "id") -> Decision:
        """The decision for `item` (with its trace if asked); raises `ItemError`."""
        item_id = item.get(id_field) if isinstance(item, dict) else None
        try:
            if trace:
                try:
                    recorded = self._decide_traced(item)
                    verdict = recorded.verdict
                except Exception:  # the fast forms decline anything unusual by raising
                    recorded = self._traced_tolerantly(item)
                    verdict = recorded.verdict if not isinstance(recorded, tuple) else self.verdict(recorded[0])
                return Decision(item_id, verdict, self.ref, line, None, self, item, recorded)
            return Decision(item_id, self.decide(item), self.ref, line, None, self, item)
        except ItemError as error:
            error.item_id, error.line = item_id, line
            raise

    def _traced_tolerantly(self, item: Any) -> Any:
        """What the traced form for items lacking optional inputs records, or the careful path's
        record where that form declines too (or the policy has none)."""
        self._note_decline()
        if self.forms.decide_traced_tolerant is not None:
            try:
                return self.forms.decide_traced_tolerant(item)
            except Exception:  # declined: the careful path decides, or says why not
                pass
        return self.careful(item)

    def classify_all(self, items: Iterable[Any], *, trace: bool = False, id_field: str = "id") -> Iterator[Decision | Rejection]:
        """One decision or rejection per item, in order; never stops at a bad item."""
        for number, item in enumerate(items, start=1):
            yield self.result_for(item, number, id_field, trace)

    # -- as a decider for the stream (see stream.py)

    @property
    def inputs(self) -> tuple[Any, ...]:
        return self.policy.inputs

    def result_for(self, item: Any, line: int, id_field: str, trace: bool) -> Decision | Rejection:
        """The decision for one item of a stream, or its rejection."""
        try:
            return self.classify(item, trace=trace, line=line, id_field=id_field)
        except ItemError as error:
            return Rejection(error.item_id, line, error.message, self.ref)

    def record(self, result: Decision | Rejection, trace: bool) -> dict[str, Any]:
        from .render import record

        return record(result, trace, encoded_trace=True)  # only the stream's writers read it

    def label(self, result: Decision | Rejection) -> Any:
        return None if isinstance(result, Rejection) else result.outcome

    def jsonl_lane(self, id_field: str, careful_line: Any, trace: bool = False) -> Any:
        """The fast lane for JSON lines, when the policy's inputs allow one (with traces: the
        lane of mappings, whose items the traces are read from)."""
        from .fastpath import JsonlLane, MappingLane, record_with_id

        record = None if self.forms.record_fields is None else record_with_id(self.forms.record_fields, id_field)
        if trace or self.forms.decide_record is None or record is None:
            return MappingLane(self, id_field, careful_line, trace)
        return JsonlLane.of(self, *record, careful_line)

    def verdict(self, result: Any, unknown: tuple[str, ...] = ()) -> Verdict:
        if type(result) is int:
            verdict = self.verdicts[result]
            if verdict is None:
                raise ItemError(self._no_match(unknown))
            return verdict
        hits: tuple[int, ...] = result
        if not hits:
            if self.default_verdict is None:
                raise ItemError(self._no_match(unknown))
            return self.default_verdict
        if not self.collect:  # unique
            if len(hits) > 1:
                names = _names(tuple(self.policy.rules[k - 1].id for k in hits))
                raise ItemError(f"rules {names} all match, but the policy's hit policy 'unique' allows only one")
            verdict = self.verdicts[hits[0]]
            assert verdict is not None
            return verdict
        combined = self._combined.get(hits)
        if combined is None:
            rules = tuple(self.policy.rules[k - 1] for k in hits)
            combined = Verdict(
                tuple(rule.outcome for rule in rules),
                tuple(rule.id for rule in rules),
                tuple(rule.because for rule in rules),
                hits[0],
                rules,
                True,
            )
            self._combined[hits] = combined
        return combined

    def _no_match(self, unknown: tuple[str, ...]) -> str:
        message = "no rule matched and the policy has no default"
        if unknown:
            message += f" (some rules could not be decided because {_names(unknown)} {'is' if len(unknown) == 1 else 'are'} missing)"
        return message

    # -- the careful path

    def check(self, item: Any) -> CheckedItem:
        """The item's declared inputs, checked; raises `ItemError` naming every problem."""
        if not isinstance(item, dict):
            raise ItemError(f"an item must be a mapping of fields (a JSON object), not {_kind(item)}")
        try:
            return check_item(item, self.policy.inputs)
        except ValueProblem as problem:
            raise ItemError(str(problem)) from None

    def careful(self, item: Any) -> tuple[Any, list[Any], CheckedItem]:
        """Evaluate three-valued, recording every node: (result, node values, checked inputs)."""
        checked = self.check(item)
        nodes: list[Any] = [None] * self.slots
        values, present = checked.values, checked.present
        single = self.policy.hit in ("first", "priority")
        hits: list[int] = []
        unknown: list[str] = []
        for rule in self.order:
            try:
                value = self.program.evaluate(rule.when, values, present, nodes)
            except ConditionError as failure:
                where = failure.condition.text or rule.id
                raise ItemError(f"rule '{rule.id}': {runtime_message(failure.error)} in '{where}'") from None
            if value is True:
                if single:
                    return rule.index, nodes, checked
                hits.append(rule.index)
            elif value is UNKNOWN:
                for name in rule.when.reads:
                    if name not in values and name not in unknown:
                        unknown.append(name)
        result: Any = 0 if single else tuple(hits)
        if (single and self.default_verdict is None) or (not single and not hits and self.default_verdict is None):
            self.verdict(result, tuple(unknown))  # raises with the names of the missing fields
        return result, nodes, checked

    def trace(self, item: Any) -> Trace:
        """The trace of the decision for `item` (raises `ItemError` if it cannot be decided)."""
        decision = self.classify(item, trace=True)
        return self.build_trace(decision.verdict, item, decision._recorded)

    def build_trace(self, verdict: Verdict, item: Any, recorded: Any) -> Trace:
        """The readable trace from what an evaluation recorded."""
        nodes, checked = self.unpack(item, recorded)
        return self._build_trace(verdict, nodes, checked)

    def unpack(self, item: Any, recorded: Any) -> tuple[Any, CheckedItem]:
        """(node values, checked inputs) from either path's record of an evaluation: the fast
        form's (verdict, each input's checked value, each has()), whose node values are
        replayed from those inputs, or the careful path's (result, node values, checked inputs)."""
        if isinstance(recorded, tuple):
            return recorded[1], recorded[2]
        values = astuple(recorded)[1:1 + len(self.policy.inputs)]
        optional = self._optional_values(values)
        if None in optional or ABSENT in optional:
            # the replay is two-valued; unknowns (and which nodes they leave evaluated) are the
            # careful path's, which decides as the fast form did, so only the nodes are taken
            _, nodes, checked = self.careful(item)
            return nodes, checked
        return self.forms.replay(recorded), self._checked_from(item, values)

    def _checked_from(self, item: Any, values: tuple[Any, ...]) -> CheckedItem:
        """The checked inputs of an item the fast form accepted, from the values it read."""
        names = self._input_names
        if None in values or ABSENT in values:  # the fast form reads an absent flat input as None
            found = {name: value for name, value in zip(names, values) if value is not None and value is not ABSENT}
        else:
            found = dict(zip(names, values))
        # only an input with a default can have a value the item did not give
        defaulted = [name for name, path in self._defaulted_paths if name in found and lookup(item, path) is ABSENT]
        if defaulted:
            return CheckedItem(found, frozenset(found).difference(defaulted), frozenset(defaulted))
        return CheckedItem(found, self._all_inputs if len(found) == len(names) else frozenset(found), _NONE)

    def _build_trace(self, verdict: Verdict, nodes: Any, checked: CheckedItem) -> Trace:
        if self._trace_builder is None:
            self._trace_builder = trace_builder(self.order) or self._traced_by_walking
        try:
            return self._trace_builder(nodes, _Fields(checked), self.policy.hit, verdict.is_default, self._input_names)
        except KeyError:  # a node value that is none of true, false, unknown and skipped
            return self._traced_by_walking(nodes, _Fields(checked), self.policy.hit, verdict.is_default,
                                           self._input_names)

    def _traced_by_walking(self, nodes: Any, fields: _Fields, hit: str, default_applied: bool,
                           input_names: tuple[str, ...]) -> Trace:
        """The trace, by walking each rule's condition tree (see trace_builder)."""
        considered: list[RuleTrace] = []
        not_considered: list[Rule] = []
        for rule in self.order:
            value = nodes[rule.when.node_id]
            if value is None:
                not_considered.append(rule)
                continue
            considered.append(RuleTrace(rule, _word(value), _trace_of(rule.when, nodes, fields)))
        inputs = tuple(map(fields.__getitem__, input_names))
        return Trace(hit, tuple(considered), tuple(not_considered), default_applied, inputs)


# deeper condition trees are walked: the builder's source nests two brackets a level, and
# Python's parser takes 200
_BUILDER_DEPTH = 40


def trace_builder(order: tuple[Rule, ...]) -> Callable[..., Trace] | None:
    """A function building the trace of a decision as walking the rules in `order` does, with
    each rule's condition tree written out (about twice as fast; traces are read one by one, as
    `rulebook explain` and the API do): `build(nodes, fields, hit, default_applied,
    input_names)`. Its source holds only node numbers and input names (as literals); rules and
    conditions are constants of its namespace. None where a tree is too deep to write out."""
    pool: dict[str, Any] = {"RuleTrace": RuleTrace, "ConditionTrace": ConditionTrace, "Trace": Trace,
                            "WORD": {True: TRUE, False: FALSE, None: SKIPPED, UNKNOWN: UNKNOWN_WORD}}

    def constant(prefix: str, value: Any) -> str:
        name = f"{prefix}{len(pool)}"
        pool[name] = value
        return name

    def written(condition: Condition, depth: int) -> str:
        if depth > _BUILDER_DEPTH:
            raise RecursionError
        children = "".join(written(child, depth + 1) + ", " for child in condition.children)
        reads = "".join(f"F[{name!r}], " for name in _trace_reads(condition))
        return f"ConditionTrace({constant('C', condition)}, WORD[N[{condition.node_id}]], ({children}), ({reads}))"

    lines = ["def build(N, F, hit, default_applied, input_names):", "    considered = []", "    skipped = []"]
    try:
        for rule in order:
            node, name = rule.when.node_id, constant("R", rule)
            lines += [f"    if N[{node}] is None:", f"        skipped.append({name})", "    else:",
                      f"        considered.append(RuleTrace({name}, WORD[N[{node}]], {written(rule.when, 0)}))"]
    except RecursionError:
        return None
    lines += ["    inputs = tuple(map(F.__getitem__, input_names))",
              "    return Trace(hit, tuple(considered), tuple(skipped), default_applied, inputs)"]
    namespace = {"__builtins__": {"tuple": tuple, "map": map}, **pool}
    exec(compile("\n".join(lines), "<trace builder>", "exec"), namespace)  # noqa: S102 - see above
    return namespace["build"]  # type: ignore[no-any-return]


def condition_trace(condition: Condition, nodes: Any, checked: CheckedItem) -> ConditionTrace:
    """The trace of a condition tree from the node values the interpreter recorded."""
    return _trace_of(condition, nodes, _Fields(checked))


def _trace_of(condition: Condition, nodes: Any, fields: _Fields) -> ConditionTrace:
    children = tuple([_trace_of(child, nodes, fields) for child in condition.children]) if condition.children else ()
    reads = tuple(map(fields.__getitem__, _trace_reads(condition)))
    return ConditionTrace(condition, _word(nodes[condition.node_id]), children, reads)


def _trace_reads(condition: Condition) -> tuple[str, ...]:
    """The inputs a condition's trace shows: those its expression reads, then those it tests
    (none for an `all`, `any` or `not`, even one split from an expression)."""
    expr = condition.expr
    if condition.kind != "expr" or expr is None:
        return ()
    return expr.reads + tuple(n for n in expr.presence if n not in expr.reads) if expr.presence else expr.reads


class _Fields(dict):  # type: ignore[type-arg]
    """Each input's FieldValue in one trace, made once however many conditions read it."""

    def __init__(self, checked: CheckedItem):
        super().__init__()
        self.checked = checked

    def __missing__(self, name: str) -> FieldValue:
        checked = self.checked
        if name not in checked.values:
            field = FieldValue(name, None, "missing")
        else:
            field = FieldValue(name, checked.values[name], "default" if name in checked.defaulted else "item")
        self[name] = field
        return field


def _names(names: tuple[str, ...]) -> str:
    quoted = [f"'{name}'" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _kind(value: Any) -> str:
    from .sandbox import type_word_of

    return type_word_of(value)
