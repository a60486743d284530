"""Streaming: input records -> one result per item -> output records, in input order.

Every command that decides items (`classify`, and any other kind of decision) runs through
`run`: it reads the records, hands each item to a `Decider`, writes one output record per
input item and counts what happened. A decider knows its policy; this module knows nothing
about policies, only about keeping the stream going whatever an item holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
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

    def jsonl_lane(self, id_field: str, careful_line: Any, trace: bool = False) -> Any:
        """A fast lane for JSON lines in and out (see fastpath.py), writing traces if asked, or None."""


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
        if rec.error is not None:  # an item read but not to be decided (a key or column twice) keeps its id
            item_id = rec.item.get(id_field) if isinstance(rec.item, dict) else None
            yield Rejection(item_id, rec.line, rec.error, decider.ref)
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
    if lane is None and input_format == "jsonl" and output_format == "jsonl":
        lane = lane_for(decider, id_field, trace)
    try:
        if lane is not None:
            lane.run(source, out, tally, progress, first_line)
            return tally
        from .render import writer_for

        dated = getattr(getattr(decider, "ref", None), "as_of", None) is not None
        writer = writer_for(output_format, out, trace, kind, dated)
        for result in results(decider, read_items(source, input_format, first_line), id_field, trace):
            tally.add(decider.label(result))
            writer.write(decider.record(result, trace))
            if progress is not None:
                progress.tick(tally.items)
        writer.close()
    except BrokenPipeError:
        tally.delivered = False
    return tally


def lane_for(decider: Decider, id_field: str, trace: bool = False) -> Any:
    """The decider's fast lane for JSON lines in and out (with traces, if asked), or None."""
    return decider.jsonl_lane(id_field, lambda raw, number: careful_line(decider, raw, number, id_field, trace), trace)


def careful_line(decider: Decider, raw: bytes, number: int, id_field: str,
                 trace: bool = False) -> tuple[bytes, Any] | None:
    """The JSONL output line of one input line through the general path, and its label;
    None for a blank line (which is not an item)."""
    from .items import jsonl_record
    from .jsonio import encode

    record = jsonl_record(raw, number)
    if record is None:
        return None
    (result,) = results(decider, iter([record]), id_field, trace)
    return encode(decider.record(result, trace)) + b"\n", decider.label(result)


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

BLOCK_BYTES = 1 << 22  # input handed to a worker at a time, cut at a line end
PIPED_BYTES = 1 << 20  # the same for input sent to the workers, copied twice on the way


def workers_for(jobs: int, source: IO[bytes]) -> int:
    """How many worker processes to use for `--jobs N` (0: one per processor): one for a small
    file, where starting them costs more than they save."""
    import io
    import os
    import stat

    if jobs == 1:
        return 1
    jobs = jobs or os.cpu_count() or 1
    try:
        status = os.fstat(source.fileno())
        if stat.S_ISREG(status.st_mode) and status.st_size < 4 * (1 << 20):
            return 1
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # no file beneath: its length is unknown
    return jobs


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


def file_blocks(fd: int, start: int, size: int = BLOCK_BYTES, jobs: int = 1) -> Iterator[tuple[int, int]]:
    """The blocks of whole lines of the regular file `fd` from byte `start`, as (offset,
    length). Only the end of each block is read here, to cut it after a line. For `jobs`
    workers, the last blocks are smaller, so that the workers finish at about the same time."""
    import os

    end = os.fstat(fd).st_size
    offset = start
    while offset < end:
        # a share of what is left while that is less than `size`: the last worker to start its
        # last block then waits for no long one of the others
        step = size if jobs == 1 else max(min(size, (end - offset) // (2 * jobs)), size // 16, 1)
        stop = offset + step
        while stop < end:
            window = os.pread(fd, min(step, 1 << 16), stop - min(step, 1 << 16))  # within this block
            cut = window.rfind(b"\n") + 1
            if cut:
                stop = stop - len(window) + cut
                break
            stop += step  # no line end in the window: a long line, read on
        stop = min(stop, end)
        yield offset, stop - offset
        offset = stop


class _Block(NamedTuple):
    """What a worker made of one block: its output (None when the worker wrote it itself) and
    its tally."""

    data: bytes | None
    items: int
    rejected: int
    labels: dict[str, int]


# A worker reading its block from the input file does not know the number of its first line
# and numbers it from 1. Only error records carry line numbers: a block with any is decided
# again once the lines before it are counted. They are counted only then, from where the last
# count stopped; counting every block would cost the workers several percent of their time.
_AT, _LINES = 0, 1  # in a count of lines: the offset counted to, the lines before it


def _first_line(count: Any, fd: int, offset: int) -> int:
    """The number of the line at `offset` of the file `fd`, counting on from `count`."""
    import os

    while count[_AT] < offset:
        chunk = os.pread(fd, min(offset - count[_AT], BLOCK_BYTES), count[_AT])
        count[_AT] += len(chunk)
        count[_LINES] += chunk.count(b"\n")
    return count[_LINES] + 1


class _Turns:
    """What forked workers share to write their blocks to the output themselves, in order.

    The worker whose block is next writes it, then the later blocks parked by workers that
    finished before their turn (each in a spool file, and a slot of `state`). The parent keeps
    at most `slots` blocks in flight and waits for them in order, so every block before the
    oldest one in flight is written, and no two parked blocks share a slot.
    """

    NEXT, GONE, SLOTS = 2, 3, 4  # in `state`, after a count of lines: next block, reader gone
    SLOT = 4  # a parked block: its number (-1: the slot is free), renumber or not, offset, length

    def __init__(self, context: Any, fd: int, source: int | None, start: int, spool: str, slots: int):
        self.fd, self.source, self.spool, self.slots = fd, source, spool, slots
        self.lock = context.Lock()
        self.state = context.RawArray("q", self.SLOTS + self.SLOT * slots)
        self.state[_AT] = start
        for slot in range(slots):
            self.state[self.SLOTS + self.SLOT * slot] = -1

    def commit(self, seq: int, data: bytes, renumber: tuple[int, int] | None,
               redo: Callable[[tuple[int, int], int], bytes]) -> None:
        """Write block `seq`, and the parked blocks after it, if it is next; else park it.
        `renumber` is the place in the input file of a block whose error records were numbered
        from 1; `redo(place, first_line)` decides such a block again."""
        import os

        state = self.state
        self.lock.acquire()
        try:
            if state[self.GONE]:
                return
            if state[self.NEXT] != seq:
                self._park(seq, data, renumber)
                return
            while True:  # this worker's turn until it moves NEXT on: no other writes or counts
                if renumber is not None:
                    self.lock.release()  # while deciding again, the others park their blocks
                    try:
                        first = _first_line(state, self.source, renumber[0])
                        data = data if first == 1 else redo(renumber, first)
                    finally:
                        self.lock.acquire()
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view):]
                seq = state[self.NEXT] = seq + 1
                parked = self._unpark(seq)
                if parked is None:
                    return
                data, renumber = parked
        except BrokenPipeError:  # the reader went away: no worker writes any more
            state[self.GONE] = 1
        finally:
            self.lock.release()

    def _park(self, seq: int, data: bytes, renumber: tuple[int, int] | None) -> None:
        with open(f"{self.spool}/{seq}", "wb") as spooled:
            spooled.write(data)
        slot = self.SLOTS + self.SLOT * (seq % self.slots)
        assert self.state[slot] == -1, "a parked block in the way"
        self.state[slot:slot + self.SLOT] = [seq, renumber is not None, *(renumber or (0, 0))]

    def _unpark(self, seq: int) -> tuple[bytes, tuple[int, int] | None] | None:
        import os

        slot = self.SLOTS + self.SLOT * (seq % self.slots)
        if self.state[slot] != seq:
            return None
        _, renumber, offset, length = self.state[slot:slot + self.SLOT]
        self.state[slot] = -1
        with open(f"{self.spool}/{seq}", "rb") as spooled:
            data = spooled.read()
        os.unlink(spooled.name)
        return data, (offset, length) if renumber else None


_WORKER: tuple[Any, ...] | None = None
_INHERITED: Decider | None = None  # the parent's decider, which forked workers use as it is


def _start_worker(make_decider: Any, id_field: str, trace: bool, fd: int | None = None,
                  turns: _Turns | None = None) -> None:
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every process: the parent stops the work
    keep_buffers_in_heap()  # inherited where forked; a spawned worker sets it itself
    decider = _INHERITED if _INHERITED is not None else make_decider()
    lane = lane_for(decider, id_field, trace)  # built once: it costs about a block's millisecond
    _WORKER = (decider, id_field, trace, fd, turns, lane)


def _decide_job(job: tuple[int, bytes | tuple[int, int], int | None]) -> _Block:
    """Decide a block: its number, its bytes or its place in the input file, and the number of
    its first line (None: unknown). Its output is returned, or written where `_Turns` says."""
    assert _WORKER is not None
    decider, id_field, trace, fd, turns, lane = _WORKER
    seq, what, first_line = job
    if turns is not None and turns.state[turns.GONE]:
        return _Block(None, 0, 0, {})
    data, tally = _decided(decider, what if isinstance(what, bytes) else _read(fd, *what), first_line or 1,
                           id_field, trace, lane)
    block = _Block(data, tally.items, tally.rejected, dict(tally.labels))
    if turns is None:
        return block

    def redo(place: tuple[int, int], first: int) -> bytes:
        return _decided(decider, _read(fd, *place), first, id_field, trace, lane)[0]

    turns.commit(seq, data, what if isinstance(what, tuple) and tally.rejected else None, redo)
    return block._replace(data=None)


def _decided(decider: Decider, block: bytes, first_line: int, id_field: str, trace: bool,
             lane: Any = None) -> tuple[bytes, Tally]:
    import io

    out = io.BytesIO()
    tally = run(decider, io.BytesIO(block), "jsonl", "jsonl", out, id_field=id_field, trace=trace,
                first_line=first_line, lane=lane)
    return out.getvalue(), tally


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


def _output_fd(out: IO[bytes]) -> int | None:
    """The file descriptor of `out` if writing to it is all `out.write` does (a file, a pipe;
    not memory, nor an object that encodes what it is given and merely has a file beneath)."""
    import io
    import os

    if not isinstance(out, (io.BufferedWriter, io.BufferedRandom, io.FileIO)):
        return None
    try:
        fd = out.fileno()
        os.fstat(fd)
        return fd
    except (OSError, ValueError):
        return None


def run_parallel(make_decider: Any, source: IO[bytes], out: IO[bytes], jobs: int, *, id_field: str = "id",
                 trace: bool = False, progress: Any = None, block_bytes: int | None = None,
                 decider: Decider | None = None) -> Tally:
    """Like `run` for JSON lines in and out, with the blocks of the input decided by `jobs`
    worker processes; the output is the same, byte for byte, and in input order.

    `make_decider` builds the decider in each worker (it must be picklable, e.g. a
    functools.partial of a module-level function); where workers are forked they inherit
    `decider` instead, when it is given. At most two blocks per worker are in flight, so
    memory stays flat however long the input is; `block_bytes` is their size (by default
    BLOCK_BYTES from a regular file, PIPED_BYTES otherwise).

    Where workers are forked, they write their output themselves, taking turns, when `out`
    is a file or a pipe; and they read their blocks themselves when the input is a regular
    file, so that only the blocks' places travel between the processes. On a small machine,
    copying the data through this process costs about as much as deciding it.
    """
    global _INHERITED
    import multiprocessing
    import shutil
    import tempfile
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    forked = context.get_start_method() == "fork"
    fd = _regular_file(source) if forked else None
    out_fd = _output_fd(out) if forked else None
    start = source.tell() if fd is not None else 0
    work: Iterator[tuple[Any, int | None]]
    if fd is not None:
        work = ((place, None) for place in file_blocks(fd, start, block_bytes or BLOCK_BYTES, jobs))
    else:
        work = blocks(source, block_bytes or PIPED_BYTES)
    tally = Tally()
    count = [start, 0]  # of the lines before the blocks this process writes (see _first_line)
    _INHERITED = decider if forked else None
    keep_buffers_in_heap()
    turns = spool = None
    if out_fd is not None:
        out.flush()  # the workers write on after it; this process writes nothing more
        spool = tempfile.mkdtemp(prefix="rulebook-")
        turns = _Turns(context, out_fd, fd, start, spool, 2 * jobs)
    try:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                 initargs=(make_decider, id_field, trace, fd, turns)) as pool:
            pending: deque[tuple[Any, Future[_Block]]] = deque()

            def settle() -> None:
                nonlocal decider
                place, future = pending.popleft()
                block = future.result()
                if block.data is not None:
                    data = block.data
                    if block.rejected and place is not None and (first := _first_line(count, fd, place[0])) != 1:
                        decider = decider or make_decider()
                        data = _decided(decider, _read(fd, *place), first, id_field, trace)[0]
                    out.write(data)
                tally.items += block.items
                tally.rejected += block.rejected
                tally.labels.update(block.labels)
                if progress is not None:
                    progress.tick(tally.items, force=True)
                if turns is not None and turns.state[turns.GONE]:
                    raise BrokenPipeError

            try:
                for seq, (what, first_line) in enumerate(work):
                    place = what if fd is not None else None  # only to decide a block again here
                    pending.append((place, pool.submit(_decide_job, (seq, what, first_line))))
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
