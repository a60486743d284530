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

    def jsonl_lane(self, id_field: str, careful_line: Any) -> Any:
        """A fast lane for JSON lines in and out (see fastpath.py), or None."""


@dataclass
class Tally:
    """Counts of one run, for the summary line."""

    items: int = 0
    rejected: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    delivered: bool = True  # False when the reader closed the output before the end

    def add(self, label: str | tuple[str, ...] | None, count: int = 1) -> None:
        """Count `count` results labelled `label` (None: rejected)."""
        self.items += count
        if label is None:
            self.rejected += count
        elif isinstance(label, tuple):
            for one in label:
                self.labels[one] += count
        else:
            self.labels[label] += count

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


def run(decider: Decider, source: IO[bytes], input_format: str, output_format: str, out: IO[bytes], *,
        id_field: str = "id", trace: bool = False, progress: Any = None, first_line: int = 1,
        kind: str = "decision") -> Tally:
    """Decide every item of `source` and write one record each to `out`; returns the tally.

    JSON lines in and out take the decider's fast lane where it has one. Stops early,
    quietly, if the reader of the output goes away (`| head`); the tally then says so and
    counts what was decided until then. `kind` ("decision" or "gate") is the kind of record
    the decider writes, for the CSV and table layouts.
    """
    tally = Tally()
    lane = None
    if input_format == "jsonl" and output_format == "jsonl" and not trace:
        lane = decider.jsonl_lane(id_field, lambda raw, number: careful_line(decider, raw, number, id_field))
    try:
        if lane is not None:
            lane.run(source, out, tally, progress, first_line)
            return tally
        from .render import writer_for

        writer = writer_for(output_format, out, trace, kind)
        for result in results(decider, read_items(source, input_format, first_line), id_field, trace):
            tally.add(decider.label(result))
            writer.write(decider.record(result, trace))
            if progress is not None:
                progress.tick(tally.items)
        writer.close()
    except BrokenPipeError:
        tally.delivered = False
    return tally


def careful_line(decider: Decider, raw: bytes, number: int, id_field: str) -> tuple[bytes, Any] | None:
    """The JSONL output line of one input line through the general path, and its label;
    None for a blank line (which is not an item)."""
    from .items import jsonl_record
    from .jsonio import encode

    record = jsonl_record(raw, number)
    if record is None:
        return None
    (result,) = results(decider, iter([record]), id_field)
    return encode(decider.record(result, False)) + b"\n", decider.label(result)


# -- several processes ----------------------------------------------------------------------------

BLOCK_BYTES = 1 << 20  # input handed to a worker at a time, cut at a line end


def blocks(source: IO[bytes], size: int = BLOCK_BYTES) -> Iterator[tuple[bytes, int]]:
    """The input in blocks of whole lines, each with the number of its first line."""
    line = 1
    rest = b""
    while True:
        chunk = source.read(size)
        if not chunk:
            if rest:
                yield rest, line
            return
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # one line longer than a block: read on
            rest = data
            continue
        block, rest = data[:cut], data[cut:]
        yield block, line
        line += block.count(b"\n")


_WORKER: tuple[Any, ...] | None = None


def _start_worker(make_decider: Any, output_format: str, id_field: str, trace: bool) -> None:
    global _WORKER
    _WORKER = (make_decider(), output_format, id_field, trace)


def _decide_block(job: tuple[bytes, int]) -> tuple[bytes, int, int, dict[str, int]]:
    import io

    assert _WORKER is not None
    decider, output_format, id_field, trace = _WORKER
    block, first_line = job
    out = io.BytesIO()
    tally = run(decider, io.BytesIO(block), "jsonl", output_format, out, id_field=id_field, trace=trace,
                first_line=first_line)
    return out.getvalue(), tally.items, tally.rejected, dict(tally.labels)


def run_parallel(make_decider: Any, source: IO[bytes], out: IO[bytes], jobs: int, *, id_field: str = "id",
                 trace: bool = False, progress: Any = None, block_bytes: int = BLOCK_BYTES) -> Tally:
    """Like `run` for JSON lines in and out, with the blocks of the input decided by `jobs`
    worker processes; the output is the same, byte for byte, and in input order.

    `make_decider` builds the decider in each worker (it must be picklable, e.g. a
    functools.partial of a module-level function); at most two blocks per worker are in
    flight, so memory stays flat however long the input is.
    """
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    tally = Tally()
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                             initargs=(make_decider, "jsonl", id_field, trace)) as pool:
        pending: deque[Any] = deque()

        def settle() -> None:
            data, items, rejected, labels = pending.popleft().result()
            out.write(data)
            tally.items += items
            tally.rejected += rejected
            tally.labels.update(labels)
            if progress is not None:
                progress.tick(tally.items, force=True)

        try:
            for job in blocks(source, block_bytes):
                pending.append(pool.submit(_decide_block, job))
                if len(pending) >= 2 * jobs:
                    settle()
            while pending:
                settle()
            out.flush()
        except BrokenPipeError:
            tally.delivered = False
            for future in pending:
                future.cancel()
    return tally
