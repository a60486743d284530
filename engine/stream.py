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
from typing import IO, Any, NamedTuple, Protocol

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
        kind: str = "decision", lane: Any = None) -> Tally:
    """Decide every item of `source` and write one record each to `out`; returns the tally.

    JSON lines in and out take the decider's fast lane where it has one. Stops early,
    quietly, if the reader of the output goes away (`| head`); the tally then says so and
    counts what was decided until then. `kind` ("decision" or "gate") is the kind of record
    the decider writes, for the CSV and table layouts. `lane` is a fast lane to use, from
    `lane_for`, when a caller runs many streams with one decider.
    """
    tally = Tally()
    if lane is None and input_format == "jsonl" and output_format == "jsonl" and not trace:
        lane = lane_for(decider, id_field)
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


def lane_for(decider: Decider, id_field: str) -> Any:
    """The decider's fast lane for JSON lines in and out, or None."""
    return decider.jsonl_lane(id_field, lambda raw, number: careful_line(decider, raw, number, id_field))


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


_HEAP_KEPT = False


def keep_buffers_in_heap() -> None:
    """Let a long stream reuse the memory of its buffers (Linux with glibc; elsewhere a no-op).

    A stream allocates and frees buffers of about a megabyte (batches of output, blocks of
    input) over and over. By default glibc maps each such buffer afresh and unmaps it when it
    is freed, so the kernel zero-fills its pages again every time: on a 1,000,000-item run
    that was half the system time of one process and two thirds of it with `--jobs 2`.
    Raising glibc's thresholds keeps those buffers in the heap, where the next one reuses
    them; the peak memory is the same. Called once a stream proves long, so that a one-item
    run does not pay for importing ctypes.
    """
    global _HEAP_KEPT
    import sys

    if _HEAP_KEPT or not sys.platform.startswith("linux"):
        return
    _HEAP_KEPT = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):  # not glibc, or no ctypes
        return
    trim_threshold, mmap_threshold = -1, -3  # mallopt's parameter numbers, from malloc.h
    mallopt(mmap_threshold, 16 << 20)  # larger buffers are still mapped on their own
    mallopt(trim_threshold, 64 << 20)  # free heap kept for reuse before any is handed back


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


def file_blocks(fd: int, start: int, size: int = BLOCK_BYTES) -> Iterator[tuple[int, int]]:
    """The blocks of whole lines of the regular file `fd` from byte `start`, as (offset,
    length). Only the end of each block is read here, to cut it after a line."""
    import os

    end = os.fstat(fd).st_size
    offset = start
    while offset < end:
        stop = offset + size
        while stop < end:
            window = os.pread(fd, min(size, 1 << 16), stop - min(size, 1 << 16))
            cut = window.rfind(b"\n") + 1
            if cut:
                stop = stop - len(window) + cut
                break
            stop += size  # no line end in the window: a long line, read on
        stop = min(stop, end)
        yield offset, stop - offset
        offset = stop


class _Block(NamedTuple):
    """What a worker made of one block: its output (or the file holding it), the count of its
    input lines, its tally."""

    data: bytes | str
    lines: int
    items: int
    rejected: int
    labels: dict[str, int]


_WORKER: tuple[Any, ...] | None = None
_INHERITED: Decider | None = None  # the parent's decider, which forked workers use as it is


def _start_worker(make_decider: Any, id_field: str, trace: bool, fd: int | None = None,
                  spool: str | None = None) -> None:
    global _WORKER
    keep_buffers_in_heap()  # inherited where forked; a spawned worker sets it itself
    decider = _INHERITED if _INHERITED is not None else make_decider()
    lane = None if trace else lane_for(decider, id_field)  # built once: it costs about a block's millisecond
    _WORKER = (decider, id_field, trace, fd, spool, lane)


def _decide_block(job: tuple[bytes, int]) -> _Block:
    assert _WORKER is not None
    decider, id_field, trace, _, _, lane = _WORKER
    block, first_line = job
    return _decided(decider, block, first_line, id_field, trace, lane=lane)


def _decide_file_block(job: tuple[int, int]) -> _Block:
    assert _WORKER is not None
    decider, id_field, trace, fd, spool, lane = _WORKER
    offset, length = job
    # Numbered from 1: the worker does not know where its block starts. Only error records
    # carry line numbers; a block with any is decided again where its first line is known.
    # The output goes to a file in `spool`, which the parent copies on without reading it.
    return _decided(decider, _read(fd, offset, length), 1, id_field, trace, f"{spool}/{offset}", lane)


def _decided(decider: Decider, block: bytes, first_line: int, id_field: str, trace: bool,
             spool_file: str | None = None, lane: Any = None) -> _Block:
    import io

    out: Any = io.BytesIO() if spool_file is None else open(spool_file, "wb")  # noqa: SIM115
    with out:
        tally = run(decider, io.BytesIO(block), "jsonl", "jsonl", out, id_field=id_field, trace=trace,
                    first_line=first_line, lane=lane)
        data = out.getvalue() if spool_file is None else spool_file
    return _Block(data, block.count(b"\n"), tally.items, tally.rejected, dict(tally.labels))


def _write_on(out: IO[bytes], data: bytes | str) -> None:
    """Write a block's output to `out`: the bytes, or the content of the spool file named."""
    import os

    if isinstance(data, bytes):
        out.write(data)
        return
    with open(data, "rb") as spooled:
        offset, size = 0, os.fstat(spooled.fileno()).st_size
        try:
            target = out.fileno()
            out.flush()
            while offset < size:  # copied by the kernel, never through this process
                offset += os.sendfile(target, spooled.fileno(), offset, size - offset)
        except BrokenPipeError:
            raise
        except (AttributeError, OSError, ValueError):  # no file, or one sendfile cannot write to
            spooled.seek(offset)
            out.write(spooled.read())
    os.unlink(data)


def _read(fd: int, offset: int, length: int) -> bytes:
    import os

    parts = []
    while length:
        part = os.pread(fd, length, offset)
        if not part:
            break
        parts.append(part)
        offset, length = offset + len(part), length - len(part)
    return b"".join(parts)


def _regular_file(source: IO[bytes]) -> int | None:
    """The file descriptor of `source` if it is a regular file (not a pipe or a terminal)."""
    import os
    import stat

    try:
        fd = source.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError, AttributeError):
        return None


def run_parallel(make_decider: Any, source: IO[bytes], out: IO[bytes], jobs: int, *, id_field: str = "id",
                 trace: bool = False, progress: Any = None, block_bytes: int = BLOCK_BYTES,
                 decider: Decider | None = None) -> Tally:
    """Like `run` for JSON lines in and out, with the blocks of the input decided by `jobs`
    worker processes; the output is the same, byte for byte, and in input order.

    `make_decider` builds the decider in each worker (it must be picklable, e.g. a
    functools.partial of a module-level function); where workers are forked they inherit
    `decider` instead, when it is given. At most two blocks per worker are in flight, so
    memory stays flat however long the input is.

    When the input is a regular file and workers are forked, each worker reads its blocks
    from the file itself and only their places travel between the processes: on a small
    machine, copying the input through a pipe costs about as much as deciding it.
    """
    global _INHERITED
    import multiprocessing
    import os
    import shutil
    import tempfile
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    forked = context.get_start_method() == "fork"
    fd = _regular_file(source) if forked else None
    work: Iterator[Any]
    if fd is not None:
        work, decide = file_blocks(fd, source.tell(), block_bytes), _decide_file_block
    else:
        work, decide = blocks(source, block_bytes), _decide_block
    tally = Tally()
    line = 1  # the number of the first line of the next block to settle
    _INHERITED = decider if forked else None
    keep_buffers_in_heap()
    spool = tempfile.mkdtemp(prefix="rulebook-") if fd is not None else None
    try:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                 initargs=(make_decider, id_field, trace, fd, spool)) as pool:
            pending: deque[tuple[Any, Any]] = deque()

            def settle() -> None:
                nonlocal line, decider
                job, future = pending.popleft()
                block: _Block = future.result()
                if block.rejected and fd is not None and line != 1:
                    decider = decider or make_decider()
                    os.unlink(block.data)
                    block = _decided(decider, _read(fd, *job), line, id_field, trace)
                _write_on(out, block.data)
                line += block.lines
                tally.items += block.items
                tally.rejected += block.rejected
                tally.labels.update(block.labels)
                if progress is not None:
                    progress.tick(tally.items, force=True)

            try:
                for job in work:
                    pending.append((job, pool.submit(decide, job)))
                    if len(pending) >= 2 * jobs:
                        settle()
                while pending:
                    settle()
                out.flush()
            except BrokenPipeError:
                tally.delivered = False
                for _, future in pending:
                    future.cancel()
    finally:
        _INHERITED = None
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)
    return tally
