"""Streaming: input records -> one result per item -> output records, in input order.

Every command that decides items (`classify`, and any other kind of decision) runs through
`run`: it reads the records, hands each item to a `Decider`, writes one output record per
input item and counts what happened. A decider knows its policy; this module knows nothing
about policies, only about keeping the stream going whatever an item holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from .items import ItemRecord, read_items
from .model import InputSpec, PolicyRef


class Decider(Protocol):
    """What the stream needs from a compiled policy."""

    ref: PolicyRef  # named in error records
    inputs: tuple[InputSpec, ...]  # CSV cells are read as these types

    def result_for(self, item: Any, line: int, id_field: str, trace: bool) -> Any:
        """A result for one item (never raises for a bad item: returns a rejection)."""

    def record(self, result: Any, trace: bool) -> dict[str, Any]:
        """The output record of a result."""

    def label(self, result: Any) -> str | tuple[str, ...] | None:
        """What the summary counts the result as (an outcome); None for a rejection."""


@dataclass
class Tally:
    """Counts of one run, for the summary line."""

    items: int = 0
    rejected: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    delivered: bool = True  # False when the reader closed the output before the end

    def add(self, label: str | tuple[str, ...] | None) -> None:
        self.items += 1
        if label is None:
            self.rejected += 1
        elif isinstance(label, tuple):
            self.labels.update(label)
        else:
            self.labels[label] += 1

    @property
    def decided(self) -> int:
        return self.items - self.rejected


def results(decider: Decider, records: Iterator[ItemRecord], id_field: str = "id", trace: bool = False) -> Iterator[Any]:
    """One result per input record, in order."""
    from .evaluate import Rejection
    from .inputs import read_text_item

    for rec in records:
        if rec.error is not None:
            yield Rejection(None, rec.line, rec.error, decider.ref)
            continue
        item = read_text_item(rec.item, decider.inputs) if rec.text_values else rec.item
        yield decider.result_for(item, rec.line, id_field, trace)


def run(decider: Decider, source: IO[bytes], input_format: str, writer: Any, *, id_field: str = "id",
        trace: bool = False, progress: Any = None) -> Tally:
    """Decide every item of `source` and write one record each; returns the tally.

    Stops early, quietly, if the reader of the output goes away (`| head`); the tally then
    says so and counts what was decided until then.
    """
    tally = Tally()
    try:
        for result in results(decider, read_items(source, input_format), id_field, trace):
            tally.add(decider.label(result))
            writer.write(decider.record(result, trace))
            if progress is not None:
                progress.tick(tally.items)
        writer.close()
    except BrokenPipeError:
        tally.delivered = False
    return tally
