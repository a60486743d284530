"""The Python API: load a policy set once, then classify items, check them at their stage
gates, and explain the results.

    import engine
    policy = engine.load("policies/")
    decision = policy.classify({"id": "INC-1", "type": "incident"})
    print(decision.outcome, decision.rule)
    print(decision.explain())
    result = policy.gate({"id": "INI-1", "stage": "definition", "outcome": "initiative"})
    print(result.result, [c.name for c in result.held_by])

The command line uses only this API.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import PolicyError, UsageError, described, did_you_mean, expect_items
from .evaluate import Classifier, Decision, Rejection, Verdict
from .loader import parse_documents
from .model import ClassificationPolicy, GatesPolicy
from .sandbox import parse_moment, today
from .validate import PolicySet, check_documents, load_policy_set, no_policy_message

if TYPE_CHECKING:  # the gate checker is loaded only when a command or caller checks gates
    from .gates import Gater, GateResult


class Policy:
    """A checked policy set, ready to decide items.

    `name` chooses a policy where the set holds several of a kind; a kind that holds no policy
    of that name uses its only policy; a name no policy in the set has is a `UsageError`.
    `as_of` is the date (or date-time) `days_since()` counts to: by default the date in UTC
    when the object was made, so a service that runs for days loads its policy again, or
    names the date.
    """

    def __init__(self, policy_set: PolicySet, name: str | None = None, as_of: _dt.date | str | None = None):
        if name is not None and all(policy.name != name for policy in policy_set.policies):
            hint = did_you_mean(name, [policy.name for policy in policy_set.policies])
            raise UsageError(f"no policy named '{name}'" + (f"; {hint}" if hint else ""))
        self.policy_set = policy_set
        self._name = name
        self.as_of = _as_of(as_of) if as_of is not None else today()
        self._classifier: Classifier | None = None
        self._gater: Gater | None = None

    def _name_for(self, policies: tuple[ClassificationPolicy | GatesPolicy, ...]) -> str | None:
        """The name to choose a policy of one kind by: none when it names a policy of another kind."""
        if self._name is None or any(p.name == self._name for p in policies):
            return self._name
        return None if any(p.name == self._name for p in self.policy_set.policies) else self._name

    @property
    def classification(self) -> ClassificationPolicy:
        """The classification policy this object classifies with."""
        return self.policy_set.classification(self._name_for(self.policy_set.classifications))

    @property
    def gates(self) -> GatesPolicy:
        """The gates policy this object checks items with."""
        return self.policy_set.gates(self._name_for(self.policy_set.gate_policies))

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            self._classifier = Classifier(self.classification, self.as_of)
        return self._classifier

    @property
    def name(self) -> str:
        return self.classification.name

    @property
    def version(self) -> str | None:
        return self.classification.version

    @property
    def sha256(self) -> str:
        return self.classification.sha256

    @property
    def classify(self) -> Callable[..., Decision]:
        """`policy.classify(item, *, trace=False, id_field="id")`: the decision for one item,
        with its trace if asked; raises `ItemError` if the item cannot be decided. (The
        classifier's own method, so a call is not passed on through another one.)"""
        return self.classifier.classify

    @property
    def decide(self) -> Callable[[dict[str, Any]], Verdict]:
        """`policy.decide(item)`: only the verdict (outcome, rule, because) for one item, the
        leanest call; raises `ItemError` if the item cannot be decided. (The policy's generated
        function itself, so a loop can keep it: `decide = policy.decide`.)"""
        return self.classifier.decide

    def decide_many(self, items: Iterable[dict[str, Any]]) -> list[Verdict | Rejection]:
        """The verdict for each item, in order, in one call: the fastest way to decide a batch
        already in memory. An item that cannot be decided gets a `Rejection` in its place."""
        return self.classifier.decide_many(expect_items(items))

    def annotate(self, item: dict[str, Any]) -> dict[str, Any]:
        """A copy of `item` with `outcome`, `rule` and `because` added (what `classify --annotate` writes)."""
        from .annotate import annotated

        return annotated(item, self.decide(item))

    def classify_all(
        self, items: Iterable[dict[str, Any]], *, trace: bool = False, id_field: str = "id"
    ) -> Iterator[Decision | Rejection]:
        """One decision or rejection per item, in order; a bad item never stops the rest."""
        return self.classifier.classify_all(expect_items(items), trace=trace, id_field=id_field)

    def gater(self, to: str | None = None) -> Gater:
        """The gates policy made executable, moving items to `to` (default: their next stage).

        Items without an `outcome` are classified first with the set's classification policy
        when the gates policy reads `outcome` (an error when the set holds several)."""
        if to is None and self._gater is not None:
            return self._gater
        gates = self.gates
        classifier = None
        if "outcome" in gates.reads and self.policy_set.classifications:
            classifier = self.classifier
        from .gates import Gater

        gater = Gater(gates, classifier, to, self.as_of)
        if to is None:
            self._gater = gater
        return gater

    def gate(self, item: dict[str, Any], to: str | None = None, *, id_field: str = "id") -> GateResult:
        """The gate result for one item moving to `to` (default: its `target`, else its next
        stage); raises `ItemError` if the item cannot be checked."""
        return self.gater().gate(item, to=to, id_field=id_field)

    def gate_all(self, items: Iterable[dict[str, Any]], to: str | None = None, *,
                 id_field: str = "id") -> Iterator[GateResult | Rejection]:
        """One gate result or rejection per item, in order; a bad item never stops the rest."""
        return self.gater().gate_all(expect_items(items), to=to, id_field=id_field)


def _as_of(value: Any) -> _dt.date:
    """A date or date-time, or its ISO text (`2026-12-02`, `2026-12-02T09:30:00Z`)."""
    if isinstance(value, _dt.date):
        return value
    parsed = parse_moment(value) if isinstance(value, str) else None
    if parsed is None:
        raise UsageError(f"as_of must be a date, a date-time or its ISO text such as '2026-12-02', not {value!r}")
    return parsed


def load(path: str | list[str] | tuple[str, ...], name: str | None = None, *,
         as_of: _dt.date | str | None = None) -> Policy:
    """Load and check the policy set at `path` (a file or folder, or several).

    Raises `PolicyError` carrying every problem with its file, line and column. With several
    policies of a kind in the set, `name` chooses one. `as_of`: the date `days_since()`
    counts to, a date, a date-time or its ISO text (default: today, in UTC).
    """
    return Policy(_some_policy(load_policy_set(_paths(path))), name, as_of)


def _paths(path: Any) -> list[str]:
    """The policy paths `load` was given: one path (text or a `pathlib.Path`), or several."""
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    if isinstance(path, (list, tuple)) and path and all(isinstance(p, (str, os.PathLike)) for p in path):
        return [os.fspath(p) for p in path]
    raise UsageError("name a policy file or folder (text or a pathlib.Path), or a list of them, "
                     f"not {described(path)}")


def loads(text: str | bytes, name: str | None = None, file: str = "<policy>", *,
          as_of: _dt.date | str | None = None) -> Policy:
    """Load a policy set from YAML text (one or more documents; bytes are read as UTF-8)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"the policy text is not UTF-8 ({error.reason} at byte {error.start})") from None
    if not isinstance(text, str):
        raise UsageError(f"loads() reads the YAML text of a policy, not {described(text)}")
    documents, problems = parse_documents(text, file)
    report = check_documents(documents)
    errors = problems + report.errors
    if errors or report.policy_set is None:
        error = PolicyError(errors)
        error.sources = {file: text}  # type: ignore[attr-defined]
        raise error
    return Policy(_some_policy(report.policy_set), name, as_of)


def _some_policy(policy_set: PolicySet) -> PolicySet:
    """`policy_set`, where it holds a policy; else a `UsageError`, at once rather than on first use."""
    if not policy_set.policies:
        raise UsageError(no_policy_message(None, policy_set.rule_lists))
    return policy_set


def classifier_for(paths: list[str] | tuple[str, ...], name: str | None = None,
                   as_of: _dt.date | None = None) -> Any:
    """The compiled classifier of a policy set; a module-level function, so worker processes
    can be told to build one (`functools.partial(classifier_for, paths, name, as_of)`)."""
    return load(list(paths), name, as_of=as_of).classifier
