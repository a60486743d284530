"""The JSONL fast lanes: JSON lines in, JSON lines out.

For most policies each line is decoded straight into a typed record (compile.record_fields,
jsonio.record_decoder), which checks every declared input while parsing, and the generated
`decide_record` picks the rule. For the others (see record_fields), each line is decoded into
a mapping and the generated `decide_verdict` decides it, as the general path would. Either way the output record is the item's id joined to bytes rendered once per
verdict. A line a lane cannot handle outright (not an object, a value that does not fit,
missing data, an expression error, a blank line) goes through the general path, one line at a
time, so the output is the same, byte for byte, as the general path would write for every line.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from . import jsonio
from .items import MAX_RECORD_BYTES
from .jsonio import SHORTEST_TOO_DEEP, may_nest_too_deeply
from .stream import keep_buffers_in_heap

if TYPE_CHECKING:
    from .evaluate import Classifier

_FLUSH = 4096  # lines between writes (and tallies, and progress ticks)
LAX_AFTER = 256  # lines the second decoder read before it reads every line


class JsonlLane:
    """Classifies a JSONL stream with a decoded-record form (see `of` for a classifier's)."""

    decode_lax: Callable[[bytes], Any] | None = None  # none in a lane of mappings
    lax_lines = 0

    def __init__(self, decide: Callable[[Any], Any], fields: tuple[jsonio.RecordField, ...], id_attribute: str,
                 careful_line: Callable[[bytes, int], tuple[bytes, Any] | None], tail: Callable[[Any], bytes],
                 outcome: Callable[[Any], Any]):
        """`decide` gives a result for a record of `fields`; `tail(result)` is everything of its
        decision record after the id (raising where the result has no verdict: the general
        path then says why), `outcome(result)` what the tally counts it as; `careful_line(raw,
        number)` writes a line as the general path does (None for a blank line)."""
        self.decode = jsonio.record_decoder(fields)
        self.decode_lax = jsonio.lax_record_decoder(fields, keep=id_attribute)
        self.decide = decide
        self.item_id = operator.attrgetter(id_attribute)
        self.careful_line = careful_line
        self.tail = tail
        self.outcome = outcome
        self.tails: dict[Any, bytes] = {}  # rendered once per result

    @classmethod
    def of(cls, classifier: Classifier, fields: tuple[jsonio.RecordField, ...], id_attribute: str,
           careful_line: Callable[[bytes, int], tuple[bytes, Any] | None]) -> JsonlLane:
        """The lane of a classifier's record form (a record of `fields`)."""
        assert classifier.forms.decide_record is not None
        verdict = classifier.verdict  # raises ItemError where no verdict exists
        return cls(classifier.forms.decide_record, fields, id_attribute, careful_line,
                   lambda result: record_tail(classifier, verdict(result)), lambda result: verdict(result).outcome)

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
                if len(raw) >= SHORTEST_TOO_DEEP and (len(raw) > MAX_RECORD_BYTES or may_nest_too_deeply(raw)):
                    raise ValueError("too long, or maybe nested too deeply")
                if not raw.isascii():  # the decoder skips what the policy does not declare, unread
                    raw.decode()
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
                self.careful(raw, number, parts, tally)
                decode = self.decode  # the second decoder, once it has read enough lines
            if len(results) + len(parts) >= 3 * _FLUSH:
                self.flush(parts, results, out, tally, progress)
        self.flush(parts, results, out, tally, None, last=True)

    def careful(self, raw: bytes, number: int, parts: list[bytes], tally: Any) -> None:
        """Write line `number` as the general path does (nothing for a blank line): decided
        here where the second decoder reads it (see jsonio.lax_record_decoder)."""
        if (self.decode_lax is not None and len(raw) <= MAX_RECORD_BYTES and not may_nest_too_deeply(raw)
                and jsonio.is_utf8(raw)):
            try:
                record = self.decode_lax(raw)
                result = self.decide(record)
                tail = self.tails.get(result)
                if tail is None:
                    tail = self.tails[result] = self.tail(result)
                parts.append(b'{"id":' + jsonio.encode(self.item_id(record)) + tail)
                tally.add(self.outcome(result))
                # where many lines need it (an exporter writing every integer as a float), the
                # second decoder reads them all: it accepts what the first does, alike
                self.lax_lines += 1
                if self.lax_lines == LAX_AFTER:
                    self.decode = self.decode_lax
                return
            except Exception:  # noqa: BLE001, S110 - the general path decides, and explains
                pass
        careful = self.careful_line(raw, number)
        if careful is not None:
            parts.append(careful[0])
            tally.add(careful[1])

    def flush(self, parts: list[bytes], results: list[Any], out: IO[bytes], tally: Any, progress: Any,
              last: bool = False) -> None:
        """Write the batch of lines, count its results; the last one also flushes `out`."""
        if not last:
            keep_buffers_in_heap()  # a long stream: its batches reuse the same memory
        out.write(b"".join(parts))
        parts.clear()
        self.count(results, tally)
        if progress is not None:
            progress.tick(tally.items)
        if last:
            out.flush()

    def count(self, results: list[Any], tally: Any) -> None:
        for result, count in Counter(results).items():
            tally.add(self.outcome(result), count)
        results.clear()


def record_with_id(fields: tuple[jsonio.RecordField, ...], id_field: str) -> tuple[tuple[jsonio.RecordField, ...], str] | None:
    """The record's fields with the item's id among them, and its attribute; None if the id is
    an input the record holds other than as the item wrote it (a default, a nested record)."""
    for field in fields:
        if field.key == id_field:
            if field.kind in ("string", "integer", "number", "boolean") and field.default is jsonio.REQUIRED:
                return fields, field.attribute
            return None
    return (*fields, jsonio.RecordField(id_field, "rid", "any", default=None)), "rid"


class MappingLane(JsonlLane):
    """Classifies a JSONL stream of items of any shape: each line decoded into a mapping and
    decided by the generated verdict form, which hands what it declines to the careful path;
    with `trace`, by the traced form, and each record ends with the trace (as `--explain`)."""

    def __init__(self, classifier: Classifier, id_field: str, careful_line: Callable[[bytes, int], tuple[bytes, Any] | None],
                 trace: bool = False):
        self.classifier = classifier
        self.id_field = id_field
        self.careful_line = careful_line
        self.trace = trace
        # verdicts are the classifier's own objects (one per rule, the default, each combination
        # `collect` met), so their ids are stable keys; each is held here too, so no id is reused
        self.tails: dict[int, bytes] = {}
        self.verdicts: dict[int, Any] = {}

    def run(self, source: IO[bytes], out: IO[bytes], tally: Any, progress: Any = None, first_line: int = 1) -> None:
        decode, decide, encode, id_field = jsonio.decode, self.classifier.decide, jsonio.encode, self.id_field
        tails, trace, classify = self.tails, self.trace, self.classifier.classify
        batch = 3 * _FLUSH  # results and parts between writes; fewer where each line holds kilobytes of trace
        if trace:
            from .explain import decision_trace_json

            batch //= 16
        parts: list[bytes] = []
        append = parts.append
        results: list[int] = []
        keep = results.append
        number = first_line - 1
        for raw in source:
            number += 1
            try:
                if len(raw) >= SHORTEST_TOO_DEEP and (len(raw) > MAX_RECORD_BYTES or may_nest_too_deeply(raw)):
                    raise ValueError("too long, or maybe nested too deeply")
                item = decode(raw)
                if trace:
                    decision = classify(item, trace=True)
                    verdict = decision.verdict
                else:
                    verdict = decide(item)  # an item that is not a mapping fails here or at its id
                key = id(verdict)
                tail = tails.get(key)
                if tail is None:
                    tail = self.remember(verdict)
                item_id = encode(item.get(id_field))
                if trace:  # its tail ends with `"trace":`
                    tail = tail + decision_trace_json(decision) + b"}\n"
                append(b'{"id":')
                append(item_id)
                append(tail)
                keep(key)
            except Exception:  # anything unusual: the general path decides, and explains
                self.careful(raw, number, parts, tally)
            if len(results) + len(parts) >= batch:
                self.flush(parts, results, out, tally, progress)
                decide = self.classifier.decide  # the classifier may have put other forms first
        self.flush(parts, results, out, tally, None, last=True)

    def remember(self, verdict: Any) -> bytes:
        tail = record_tail(self.classifier, verdict)
        if self.trace:
            tail = tail[:-len(b"}\n")] + b',"trace":'
        self.tails[id(verdict)] = tail
        self.verdicts[id(verdict)] = verdict
        return tail

    def count(self, results: list[Any], tally: Any) -> None:
        for key, count in Counter(results).items():
            tally.add(self.verdicts[key].outcome, count)
        results.clear()


def record_tail(classifier: Classifier, verdict: Any) -> bytes:
    """Everything of the JSONL decision record of `verdict` after its id (`{"id":` + the id's
    JSON + this is the whole line): the same for every item the verdict decides."""
    from .evaluate import Decision
    from .render import record

    rendered = jsonio.encode(record(Decision(None, verdict, classifier.ref)))
    prefix = b'{"id":null'
    assert rendered.startswith(prefix)
    return rendered[len(prefix):] + b"\n"
