"""Compare stage: two classification policies x the same items -> what the change does to them.

Both policies decide every item, a batch at a time through each policy's generated
`decide_many`, so a comparison costs little more than classifying the items twice. Each pair
of results is counted once by its (old, new) verdicts; from those counts come the from -> to
table of outcomes, the firing count of every rule on each side, and the items that became
errors or stopped being errors, each with the first few items as examples. Nothing here reads
files or writes text: the command line reads the items, `render_diff.py` writes the report.

    import engine
    old, new = engine.load("policies/"), engine.load("next/")
    result = engine.diff(old, new, items)
    print(result.changed, [(t.old, t.new, t.count) for t in result.transitions])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from .errors import expect_items
from .evaluate import Classifier, Verdict
from .inputs import read_text_item
from .items import ItemRecord
from .model import ClassificationPolicy, InputSpec, PolicyRef

BATCH = 4096  # items decided per call of a policy's generated loop

# An item's result under one policy, as the report names it: the outcome (a tuple of outcomes
# under `collect`), or None when the policy could not decide the item (an error).
Outcome = Any
# What decided it: (outcome, rule id), the rule id None for the default and a tuple under
# `collect`; None for an error.
Key = Any
BOTH_ERRORS = (None, None)


@dataclass(frozen=True, slots=True)
class Example:
    """An item named in the report: its id (None if it has none) and its line in the input."""

    id: Any
    line: int | None


@dataclass(frozen=True, slots=True)
class Transition:
    """A cell of the from -> to table: how many items the old policy gave `old` and the new
    one `new` (None: an error), with the first of them as examples."""

    old: Outcome
    new: Outcome
    count: int
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """How many items each policy gave one outcome (under `collect`, items whose list holds it)."""

    outcome: str
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old


@dataclass(frozen=True, slots=True)
class RuleCount:
    """How many items a rule decided under each policy; None where the policy has no such
    rule. `rule` None is the default."""

    rule: str | None
    old: int | None
    new: int | None

    @property
    def delta(self) -> int:
        return (self.new or 0) - (self.old or 0)

    @property
    def status(self) -> str:
        """`added`, `removed` or `changed`."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


@dataclass(frozen=True, slots=True)
class ErrorChange:
    """An item that is an error on one side: why, and its result on the other side."""

    item: Example
    error: str
    other: Outcome  # the outcome on the other side; None when it is an error there too


@dataclass(frozen=True)
class PolicyDiff:
    """What replacing the old policy with the new one does to a set of items.

    An item *changes* when its result differs: another outcome, or an error on one side
    only. `rule_changed` counts the items that keep their outcome under another rule.
    """

    old: ClassificationPolicy
    new: ClassificationPolicy
    items: int
    transitions: tuple[Transition, ...]  # changed cells, most items first
    unchanged: tuple[Transition, ...]  # the diagonal, in outcome order, without examples
    outcomes: tuple[OutcomeCount, ...]  # every outcome of either policy, and errors aside
    rules: tuple[RuleCount, ...]  # rules whose firing counts differ, added or removed
    rule_changed: int
    new_errors: int
    new_error_examples: tuple[ErrorChange, ...]
    fixed_errors: int
    fixed_error_examples: tuple[ErrorChange, ...]
    still_errors: int  # errors under both policies, records that could not be read included
    still_error_examples: tuple[ErrorChange, ...]  # with the new policy's reason
    # how each side's decisions name their policy: with the as-of date where it calls days_since()
    old_ref: PolicyRef | None = None
    new_ref: PolicyRef | None = None

    @property
    def changed(self) -> int:
        """How many items change their result."""
        return sum(transition.count for transition in self.transitions)

    @property
    def errors_old(self) -> int:
        """Items the old policy could not decide."""
        return self.fixed_errors + self.still_errors

    @property
    def errors_new(self) -> int:
        """Items the new policy cannot decide."""
        return self.new_errors + self.still_errors

    @property
    def same_policy(self) -> bool:
        """Whether both policies have the same content (their hashes agree)."""
        return self.old.sha256 == self.new.sha256


def diff(old: Any, new: Any, items: Iterable[Any], *, id_field: str = "id", examples: int = 3) -> PolicyDiff:
    """What changes when the classification policy of `new` replaces that of `old` (both
    `engine.Policy` objects, or compiled classifiers) for `items` (dicts, in order; an item
    is numbered by its place, from 1). `examples` items are kept per cell of the report."""
    records = (ItemRecord(number, item) for number, item in enumerate(expect_items(items), start=1))
    return diff_records(old, new, records, id_field=id_field, examples=examples)


def diff_records(old: Any, new: Any, records: Iterable[ItemRecord], *, id_field: str = "id", examples: int = 3,
                 progress: Callable[[int], None] | None = None) -> PolicyDiff:
    """`diff` over records as the item readers give them (`items.read_items`): a record that
    could not be read (not JSON, a broken CSV row) is an error under both policies, and CSV
    cells are read as the types each policy declares. `progress`, if given, hears the count
    of items so far after each batch."""
    old_classifier = _classifier(old)
    new_classifier = _classifier(new)
    counter = _Counter(examples, id_field)
    for batch in _batches(records):
        readable = [record for record in batch if record.error is None]
        counter.add(batch, _decide(old_classifier, readable), _decide(new_classifier, readable))
        if progress is not None:
            progress(counter.items)
    return replace(counter.result(old_classifier.policy, new_classifier.policy), old_ref=old_classifier.ref,
                   new_ref=new_classifier.ref)


def _classifier(policy: Any) -> Classifier:
    return policy if isinstance(policy, Classifier) else policy.classifier


def _batches(records: Iterable[ItemRecord]) -> Iterator[list[ItemRecord]]:
    batch: list[ItemRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _decide(classifier: Classifier, batch: list[ItemRecord]) -> list[Any]:
    """Each record's verdict or rejection; CSV cells read as this policy's declared types."""
    inputs: tuple[InputSpec, ...] = classifier.inputs
    items = [read_text_item(r.item, inputs) if r.text_values else r.item for r in batch]
    return classifier.decide_many(items)


def _spread(batch: list[ItemRecord], results: list[Any]) -> list[Any]:
    """The results of the readable records, with each unreadable record's own problem in its place."""
    found = iter(results)
    return [next(found) if record.error is None else record for record in batch]


def _key(result: Any) -> Key:
    if result.__class__ is Verdict:
        return (result.outcome, result.rule)
    return None


def _outcome(key: Key) -> Outcome:
    return None if key is None else key[0]


def _differs(old: Outcome, new: Outcome) -> bool:
    """Whether two results differ: another outcome (one outcome equals a list of just it), or
    an error on one side only."""
    if old is None or new is None:
        return old is not new
    return _as_list(old) != _as_list(new)


def _as_list(outcome: Outcome) -> tuple[str, ...]:
    return outcome if isinstance(outcome, tuple) else (outcome,)


def _rules_of(key: Key) -> tuple[str | None, ...]:
    rule = key[1]
    return rule if isinstance(rule, tuple) else (rule,)


class _Counter:
    """Counts result pairs and keeps the first examples; builds the `PolicyDiff`."""

    def __init__(self, examples: int, id_field: str):
        self.limit = max(0, examples)
        self.id_field = id_field
        self.items = 0
        self.pairs: Counter[tuple[Key, Key]] = Counter()
        self.changing: dict[tuple[Key, Key], bool] = {}
        self.examples: dict[tuple[Outcome, Outcome], list[Example]] = {}
        self.new_errors: list[ErrorChange] = []
        self.fixed_errors: list[ErrorChange] = []
        self.still_errors: list[ErrorChange] = []

    def example(self, record: ItemRecord) -> Example:
        item = record.item
        return Example(item.get(self.id_field) if isinstance(item, dict) else None, record.line)

    def add(self, batch: list[ItemRecord], old_results: list[Any], new_results: list[Any]) -> None:
        """Count a batch of records, given the results of those that could be read, in order."""
        self.items += len(batch)
        pairs, changing, limit = self.pairs, self.changing, self.limit
        if len(old_results) < len(batch):  # some records could not be read: they are errors under both
            old_results, new_results = _spread(batch, old_results), _spread(batch, new_results)
        for record, old, new in zip(batch, old_results, new_results):
            pair = (_key(old), _key(new))
            pairs[pair] += 1
            if limit:
                changes = changing.get(pair)
                if changes is None:
                    changes = changing[pair] = _differs(_outcome(pair[0]), _outcome(pair[1]))
                if changes or pair == BOTH_ERRORS:
                    self.keep(record, pair, old, new)

    def keep(self, record: ItemRecord, pair: tuple[Key, Key], old: Any, new: Any) -> None:
        """Keep the record as an example of its cell, and of the errors it shows, while there is room."""
        old_key, new_key = pair
        if old_key is None and new_key is None:
            if len(self.still_errors) < self.limit:
                self.still_errors.append(ErrorChange(self.example(record), new.error, None))
            return
        kept = self.examples.setdefault((_outcome(old_key), _outcome(new_key)), [])
        if len(kept) < self.limit:
            kept.append(self.example(record))
        if new_key is None and len(self.new_errors) < self.limit:
            self.new_errors.append(ErrorChange(self.example(record), new.error, old_key[0]))
        elif old_key is None and len(self.fixed_errors) < self.limit:
            self.fixed_errors.append(ErrorChange(self.example(record), old.error, new_key[0]))

    def result(self, old: ClassificationPolicy, new: ClassificationPolicy) -> PolicyDiff:
        cells: Counter[tuple[Outcome, Outcome]] = Counter()
        fired_old: Counter[str | None] = Counter()
        fired_new: Counter[str | None] = Counter()
        outcomes_old: Counter[str] = Counter()
        outcomes_new: Counter[str] = Counter()
        rule_changed = new_errors = fixed_errors = still_errors = 0
        for (old_key, new_key), count in self.pairs.items():
            cells[(_outcome(old_key), _outcome(new_key))] += count
            for key, fired, outcomes in ((old_key, fired_old, outcomes_old), (new_key, fired_new, outcomes_new)):
                if key is not None:
                    for rule in _rules_of(key):
                        fired[rule] += count
                    for outcome in _as_list(key[0]):
                        outcomes[outcome] += count
            if old_key is None and new_key is None:
                still_errors += count
            elif new_key is None:
                new_errors += count
            elif old_key is None:
                fixed_errors += count
            elif _rules_of(old_key) != _rules_of(new_key) and not _differs(old_key[0], new_key[0]):
                # compared as lists: a default under `first` and under `collect` is one rule
                rule_changed += count
        order = _outcome_order(old, new)
        transitions, unchanged = [], []
        for (old_outcome, new_outcome), count in cells.items():
            if _differs(old_outcome, new_outcome):
                examples = tuple(self.examples.get((old_outcome, new_outcome), ()))
                transitions.append(Transition(old_outcome, new_outcome, count, examples))
            elif old_outcome is not None:
                unchanged.append(Transition(old_outcome, new_outcome, count))
        transitions.sort(key=lambda t: (-t.count, order(t.old), order(t.new)))
        unchanged.sort(key=lambda t: order(t.old))
        names = list(dict.fromkeys((*old.outcome_names, *new.outcome_names, *outcomes_old, *outcomes_new)))
        outcomes = tuple(OutcomeCount(name, outcomes_old[name], outcomes_new[name]) for name in names)
        return PolicyDiff(
            old=old,
            new=new,
            items=self.items,
            transitions=tuple(transitions),
            unchanged=tuple(unchanged),
            outcomes=outcomes,
            rules=_rule_counts(old, new, fired_old, fired_new),
            rule_changed=rule_changed,
            new_errors=new_errors,
            new_error_examples=tuple(self.new_errors),
            fixed_errors=fixed_errors,
            fixed_error_examples=tuple(self.fixed_errors),
            still_errors=still_errors,
            still_error_examples=tuple(self.still_errors),
        )


def _outcome_order(old: ClassificationPolicy, new: ClassificationPolicy) -> Any:
    """A sort key for outcomes: the old policy's order, then outcomes only the new one has,
    lists after single outcomes, errors last."""
    places = {name: index for index, name in enumerate(dict.fromkeys((*old.outcome_names, *new.outcome_names)))}

    def order(outcome: Outcome) -> tuple[int, Any]:
        if outcome is None:
            return (2, ())
        if isinstance(outcome, tuple):
            return (1, tuple(places.get(name, len(places)) for name in outcome))
        return (0, (places.get(outcome, len(places)), outcome))

    return order


def _rule_counts(old: ClassificationPolicy, new: ClassificationPolicy, fired_old: Counter[str | None],
                 fired_new: Counter[str | None]) -> tuple[RuleCount, ...]:
    """Every rule (and default) whose firing count differs between the policies, or that only
    one policy has; in the old policy's order, then the new policy's new rules."""
    old_rules = [rule.id for rule in old.rules] + ([None] if old.default is not None else [])
    new_rules = [rule.id for rule in new.rules] + ([None] if new.default is not None else [])
    counts = []
    for rule in dict.fromkeys(old_rules + new_rules):
        before = fired_old[rule] if rule in old_rules else None
        after = fired_new[rule] if rule in new_rules else None
        if before != after:
            counts.append(RuleCount(rule, before, after))
    return tuple(counts)
