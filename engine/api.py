"""The Python API: load a policy set once, then classify items and explain the decisions.

    import engine
    policy = engine.load("policies/")
    decision = policy.classify({"id": "INC-1", "type": "incident"})
    print(decision.outcome, decision.rule)
    print(decision.explain())

The command line uses only this API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import PolicyError
from .evaluate import Classifier, Decision, Rejection, Verdict
from .loader import parse_documents
from .model import ClassificationPolicy
from .validate import PolicySet, check_documents, load_policy_set


class Policy:
    """A checked policy set, ready to decide items."""

    def __init__(self, policy_set: PolicySet, name: str | None = None):
        self.policy_set = policy_set
        self._name = name
        self._classifier: Classifier | None = None

    @property
    def classification(self) -> ClassificationPolicy:
        """The classification policy this object classifies with."""
        return self.policy_set.classification(self._name)

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            self._classifier = Classifier(self.classification)
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

    def classify(self, item: dict[str, Any], *, trace: bool = False, id_field: str = "id") -> Decision:
        """The decision for one item; raises `ItemError` if the item cannot be decided."""
        return self.classifier.classify(item, trace=trace, id_field=id_field)

    @property
    def decide(self) -> Callable[[dict[str, Any]], Verdict]:
        """`policy.decide(item)`: only the verdict (outcome, rule, because) for one item, the
        leanest call; raises `ItemError` if the item cannot be decided. (The policy's generated
        function itself, so a loop can keep it: `decide = policy.decide`.)"""
        return self.classifier.decide

    def decide_many(self, items: Iterable[dict[str, Any]]) -> list[Verdict | Rejection]:
        """The verdict for each item, in order, in one call: the fastest way to decide a batch
        already in memory. An item that cannot be decided gets a `Rejection` in its place."""
        return self.classifier.decide_many(items)

    def classify_all(
        self, items: Iterable[dict[str, Any]], *, trace: bool = False, id_field: str = "id"
    ) -> Iterator[Decision | Rejection]:
        """One decision or rejection per item, in order; a bad item never stops the rest."""
        return self.classifier.classify_all(items, trace=trace, id_field=id_field)


def load(path: str | list[str] | tuple[str, ...], name: str | None = None) -> Policy:
    """Load and check the policy set at `path` (a file or folder, or several).

    Raises `PolicyError` carrying every problem with its file, line and column. With several
    classification policies in the set, `name` chooses one.
    """
    paths = [path] if isinstance(path, str) else list(path)
    return Policy(load_policy_set(paths), name)


def loads(text: str, name: str | None = None, file: str = "<policy>") -> Policy:
    """Load a policy set from YAML text (one or more documents)."""
    documents, problems = parse_documents(text, file)
    report = check_documents(documents)
    errors = problems + report.errors
    if errors or report.policy_set is None:
        error = PolicyError(errors)
        error.sources = {file: text}  # type: ignore[attr-defined]
        raise error
    return Policy(report.policy_set, name)


def classifier_for(paths: list[str] | tuple[str, ...], name: str | None = None) -> Any:
    """The compiled classifier of a policy set; a module-level function, so worker processes
    can be told to build one (`functools.partial(classifier_for, paths, name)`)."""
    return load(list(paths), name).classifier
