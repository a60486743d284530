"""The JSONL fast lane: JSON lines in, JSON lines out, for policies over plain scalar inputs.

Each line is decoded straight into a typed record (jsonio.record_decoder), which checks every
declared input while parsing; the generated `decide_record` picks the rule; the output
record is the item's id joined to bytes rendered once per rule. A line the lane cannot
handle outright (not an object, a value that does not fit, missing data, an expression error,
a blank line) goes through the general path, one line at a time, so the output is the same,
byte for byte, as the general path would write for every line.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

from . import jsonio
from .evaluate import Classifier, Decision
from .stream import keep_buffers_in_heap

_FLUSH = 4096  # lines between writes (and tallies, and progress ticks)


class JsonlLane:
    """Classifies a JSONL stream with the decoded-record form of a classifier."""

    def __init__(self, classifier: Classifier, id_field: str, careful_line: Callable[[bytes, int], tuple[bytes, Any] | None]):
        forms = classifier.forms
        assert forms.decide_record is not None and forms.record_fields is not None
        fields = list(forms.record_fields)
        names = [field[0] for field in fields]
        if id_field in names:
            id_index = names.index(id_field)
        else:
            fields.append((id_field, "any", None, None, None, None))
            id_index = len(fields) - 1
        self.classifier = classifier
        self.decode = jsonio.record_decoder(fields)
        self.decide = forms.decide_record
        self.item_id = operator.attrgetter(f"f{id_index}")
        self.careful_line = careful_line
        self.tails: dict[Any, bytes] = {}

    def tail(self, result: Any) -> bytes:
        """Everything of a decision record after its id, rendered once per result."""
        verdict = self.classifier.verdict(result)  # raises ItemError where no verdict exists
        return record_tail(self.classifier, verdict)

    def run(self, source: IO[bytes], out: IO[bytes], tally: Any, progress: Any = None, first_line: int = 1) -> None:
        decode, decide, item_id, encode = self.decode, self.decide, self.item_id, jsonio.encode
        tails = self.tails
        parts: list[bytes] = []
        append = parts.append
        results: list[Any] = []
        keep = results.append
        number = first_line - 1
        for raw in source:
            number += 1
            try:
                record = decode(raw)
                result = decide(record)
                tail = tails.get(result)
                if tail is None:
                    tail = tails[result] = self.tail(result)
                append(b'{"id":')
                append(encode(item_id(record)))
                append(tail)
                keep(result)
            except Exception:  # anything unusual: the general path decides, and explains
                careful = self.careful_line(raw, number)
                if careful is not None:
                    append(careful[0])
                    tally.add(careful[1])
            if len(results) + len(parts) >= 3 * _FLUSH:
                keep_buffers_in_heap()  # a long stream: its batches reuse the same memory
                out.write(b"".join(parts))
                parts.clear()
                self.count(results, tally)
                if progress is not None:
                    progress.tick(tally.items)
        out.write(b"".join(parts))
        self.count(results, tally)
        out.flush()

    def count(self, results: list[Any], tally: Any) -> None:
        for result, count in Counter(results).items():
            tally.add(self.classifier.verdict(result).outcome, count)
        results.clear()


def record_tail(classifier: Classifier, verdict: Any) -> bytes:
    """Everything of the JSONL decision record of `verdict` after its id (`{"id":` + the id's
    JSON + this is the whole line): the same for every item the verdict decides."""
    from .render import record

    rendered = jsonio.encode(record(Decision(None, verdict, classifier.ref)))
    prefix = b'{"id":null'
    assert rendered.startswith(prefix)
    return rendered[len(prefix):] + b"\n"
