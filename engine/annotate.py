"""Annotation: items -> the same items with their classification added.

`rulebook classify --annotate` writes each input item back with `outcome`, `rule` and
`because` added, so that a later stage reads the classification as item data:
`rulebook classify --annotate items.jsonl | rulebook gate -`. An item that cannot be
classified becomes the same error record as in a plain `classify` run.
"""

from __future__ import annotations

from typing import Any

from .evaluate import Classifier, Decision, Rejection, Verdict

ANNOTATIONS = ("outcome", "rule", "because")


def annotated(item: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """`item` with the verdict's outcome, rule and because added last (replacing any it carried)."""
    out = {key: value for key, value in item.items() if key not in ANNOTATIONS}
    if verdict.collect:
        out.update(outcome=list(verdict.outcome), rule=list(verdict.rule), because=list(verdict.because))
    else:
        out.update(outcome=verdict.outcome, rule=verdict.rule, because=verdict.because)
    return out


class Annotator:
    """A classifier as a decider for the stream (see stream.py) whose records are the items."""

    def __init__(self, classifier: Classifier):
        self.classifier = classifier
        self.ref = classifier.ref
        self.inputs = classifier.inputs

    def result_for(self, item: Any, line: int, id_field: str, trace: bool) -> tuple[Any, Decision | Rejection]:
        return item, self.classifier.result_for(item, line, id_field, False)

    # a result is the item and its decision; or a rejection alone, for a line that held no item
    def record(self, result: tuple[Any, Decision | Rejection] | Rejection, trace: bool) -> dict[str, Any]:
        item, decision = (None, result) if isinstance(result, Rejection) else result
        if isinstance(decision, Rejection):
            return self.classifier.record(decision, False)
        return annotated(item, decision.verdict)

    def label(self, result: tuple[Any, Decision | Rejection] | Rejection) -> Any:
        return self.classifier.label(result if isinstance(result, Rejection) else result[1])

    def jsonl_lane(self, id_field: str, careful_line: Any, trace: bool = False) -> None:
        """The classifier's fast lane writes decisions, not items: every item takes the general path."""
        return None
