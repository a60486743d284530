"""The stream: one record per item in input order, in one process or several."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
import time
from typing import Any

import pytest

import engine
from engine.api import classifier_for
from engine.stream import blocks, file_blocks, run, run_parallel

from .conftest import POLICIES

LINES = [
    json.dumps({"id": f"I-{n}", "type": ["incident", "problem", "idea", "request"][n % 4], "recurrence_90d": n % 12,
                "estimated_cost": (n * 7919) % 400000})
    for n in range(300)
]
LINES[17] = "not json"
LINES[123] = json.dumps({"id": "bad", "type": "incidnt"})
LINES[200] = ""
LINES[250] = json.dumps({"id": "bad2", "recurrence_90d": -1, "type": "idea"})
for n in range(0, 300, 7):  # files joined, each with a byte order mark: some lines start a block of --jobs
    LINES[n] = "\ufeff" + LINES[n]
DATA = ("\n".join(LINES) + "\n").encode()


def single(fmt: str = "jsonl", trace: bool = False) -> tuple[bytes, tuple]:
    out = io.BytesIO()
    tally = run(engine.load(str(POLICIES)).classifier, io.BytesIO(DATA), "jsonl", fmt, out, trace=trace)
    return out.getvalue(), (tally.items, tally.rejected, dict(tally.labels))


@pytest.mark.parametrize("trace", [False, True])
def test_several_processes_write_what_one_writes(trace: bool) -> None:
    out = io.BytesIO()
    tally = run_parallel(functools.partial(classifier_for, [str(POLICIES)]), io.BytesIO(DATA), out, 2, trace=trace,
                         block_bytes=700)
    assert (out.getvalue(), (tally.items, tally.rejected, dict(tally.labels))) == single(trace=trace)
    errors = [json.loads(line) for line in out.getvalue().splitlines() if b'"error"' in line]
    assert [e["line"] for e in errors] == [18, 124, 251]


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize("to_file", [False, True])
def test_several_processes_reading_a_file_write_what_one_writes(tmp_path, monkeypatch, trace: bool,
                                                                to_file: bool) -> None:
    # Workers read their blocks from the file and number them from 1; the blocks with errors
    # are decided again once their first line is known, so the error records say the right line.
    import tempfile

    items = tmp_path / "items.jsonl"
    items.write_bytes(DATA)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    out_path = tmp_path / "out.jsonl"
    with open(items, "rb") as source, (open(out_path, "w+b") if to_file else io.BytesIO()) as out:
        tally = run_parallel(functools.partial(classifier_for, [str(POLICIES)]), source, out, 2, trace=trace,
                             block_bytes=700, decider=engine.load(str(POLICIES)).classifier)
        out.seek(0)
        written = out.read()
    assert (written, (tally.items, tally.rejected, dict(tally.labels))) == single(trace=trace)
    errors = [json.loads(line) for line in written.splitlines() if b'"error"' in line]
    assert [e["line"] for e in errors] == [18, 124, 251]
    assert list(spool.iterdir()) == []  # the workers' output files are gone


class SlowOver:
    """The policy's classifier, taking its time over the items named, so that the blocks after
    theirs are decided first; every item goes through `result_for`."""

    def __init__(self, ids: set[str], fail: bool = False):
        self.classifier = engine.load(str(POLICIES)).classifier
        self.ids, self.fail = ids, fail

    def __getattr__(self, name: str) -> Any:
        return getattr(self.classifier, name)

    def jsonl_lane(self, id_field: str, careful_line: Any, trace: bool = False) -> None:
        return None

    def result_for(self, item: Any, line: int, id_field: str, trace: bool) -> Any:
        if isinstance(item, dict) and item.get(id_field) in self.ids:
            if self.fail:
                raise RuntimeError(f"cannot decide {item[id_field]}")
            time.sleep(0.3)
        return self.classifier.result_for(item, line, id_field, trace)


@pytest.mark.parametrize("from_file", [False, True])
def test_blocks_decided_out_of_order_are_written_in_order(tmp_path, monkeypatch, from_file: bool) -> None:
    # The blocks of I-0, I-120 and I-246 take long: the blocks after them are decided first
    # and wait in spool files for their turn. Read from a file, two of those hold error
    # records (lines 18 and 251) numbered from 1, numbered again when their turn comes.
    import tempfile

    items = tmp_path / "items.jsonl"
    items.write_bytes(DATA)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    with (open(items, "rb") if from_file else io.BytesIO(DATA)) as source, open(tmp_path / "out", "wb") as out:
        tally = run_parallel(functools.partial(classifier_for, [str(POLICIES)]), source, out, 2, block_bytes=400,
                             decider=SlowOver({"I-0", "I-120", "I-246"}))
    written = (tmp_path / "out").read_bytes()
    assert (written, (tally.items, tally.rejected, dict(tally.labels))) == single()
    errors = [json.loads(line) for line in written.splitlines() if b'"error"' in line]
    assert [e["line"] for e in errors] == [18, 124, 251]
    assert list(spool.iterdir()) == []


def test_a_worker_that_fails_stops_the_run_with_its_error(tmp_path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_bytes(DATA)
    with open(items, "rb") as source, open(tmp_path / "out", "wb") as out, pytest.raises(RuntimeError, match="I-40"):
        run_parallel(functools.partial(classifier_for, [str(POLICIES)]), source, out, 2, block_bytes=400,
                     decider=SlowOver({"I-40"}, fail=True))


def test_file_blocks_cut_the_file_after_whole_lines(tmp_path) -> None:
    data = b"skip\n" + b"a\nbb\nccc\n" + b"x" * 50 + b"\n" + b"y" * 9 + b"\nlast"
    path = tmp_path / "items.jsonl"
    path.write_bytes(data)
    with open(path, "rb") as source:
        parts = list(file_blocks(source.fileno(), 5, 4))
    assert parts[0][0] == 5 and sum(length for _, length in parts) == len(data) - 5
    assert [offset for offset, _ in parts[1:]] == [offset + length for offset, length in parts[:-1]]
    pieces = [data[offset:offset + length] for offset, length in parts]
    assert all(piece.endswith(b"\n") for piece in pieces[:-1]) and pieces[-1] == b"last"
    assert b"x" * 50 + b"\n" in pieces  # a line longer than a block stays whole


def test_file_blocks_for_several_workers_get_smaller_towards_the_end(tmp_path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes((b"x" * 99 + b"\n") * 1000)  # 100,000 bytes
    with open(path, "rb") as source:
        parts = list(file_blocks(source.fileno(), 0, 10_000, jobs=2))
    lengths = [length for _, length in parts]
    assert sum(lengths) == 100_000 and all(length % 100 == 0 for length in lengths)
    assert lengths[:5] == [10_000] * 5 and lengths == sorted(lengths, reverse=True)
    assert lengths[-1] <= 1_000  # a sixteenth of a block at the end
    data = b"".join(b"y" * (n * 37 % 900) + b"\n" for n in range(400)) + b"tail"  # lines longer than some blocks
    path.write_bytes(data)
    with open(path, "rb") as source:
        for jobs in (2, 3):
            pieces = [data[offset:offset + length] for offset, length in file_blocks(source.fileno(), 3, 2_000, jobs)]
            assert b"".join(pieces) == data[3:] and all(piece.endswith(b"\n") for piece in pieces[:-1])


def test_blocks_are_whole_lines_with_their_first_line_number() -> None:
    parts = list(blocks(io.BytesIO(b"a\nbb\nccc\n" + b"x" * 50 + b"\nlast"), 4))
    assert b"".join(block for block, _ in parts) == b"a\nbb\nccc\n" + b"x" * 50 + b"\nlast"
    assert all(block.endswith(b"\n") for block, _ in parts[:-1])
    assert [line for _, line in parts] == sorted(line for _, line in parts)
    lines_before = 1
    for block, first in parts:
        assert first == lines_before
        lines_before += block.count(b"\n")


def test_the_command_with_jobs_gives_the_same_output(tmp_path) -> None:
    command = [sys.executable, "-m", "engine", "classify", "-", "--policy", str(POLICIES), "--quiet"]
    one = subprocess.run(command, input=DATA, capture_output=True, check=False)
    two = subprocess.run(command + ["--jobs", "2"], input=DATA, capture_output=True, check=False)
    assert one.returncode == two.returncode == 3
    assert one.stdout == two.stdout and len(one.stdout.splitlines()) == 299


def test_the_command_with_jobs_reading_a_large_file_gives_the_same_output(tmp_path) -> None:
    # Large enough (over 4 MB) for --jobs to start workers, with errors far into the file.
    lines = LINES * 200
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "engine", "classify", str(path), "--policy", str(POLICIES), "--quiet"]
    outputs = []
    for jobs in ("1", "2"):
        with open(tmp_path / f"out{jobs}.jsonl", "wb") as out:
            result = subprocess.run(command + ["--jobs", jobs], stdout=out, stderr=subprocess.PIPE, check=False)
        assert result.returncode == 3, result.stderr
        outputs.append((tmp_path / f"out{jobs}.jsonl").read_bytes())
    assert path.stat().st_size > 4 << 20
    assert outputs[0] == outputs[1]
    piped = subprocess.run(command + ["--jobs", "2"], capture_output=True, check=False)  # the output a pipe
    assert piped.stdout == outputs[0]
    errors = [json.loads(line)["line"] for line in outputs[1].splitlines() if b'"error"' in line]
    assert errors[-1] == 199 * 300 + 251 and len(errors) == 3 * 200


def test_the_command_with_jobs_stops_quietly_when_the_reader_goes_away(tmp_path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(LINES * 200) + "\n")
    command = [sys.executable, "-m", "engine", "classify", str(path), "--policy", str(POLICIES), "--jobs", "2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        head = process.stdout.read(100)
        process.stdout.close()  # like `| head -c 100`
        stderr = process.stderr.read().decode()
        process.wait(timeout=60)
    assert head.startswith(b'{"id":"I-0"')
    assert "Error" not in stderr and "before the output was closed" in stderr


def test_jobs_split_jsonl_in_and_out_and_other_formats_run_in_one_process(tmp_path) -> None:
    from .conftest import jsonl
    from .conftest import run as run_cli

    items = '{"id": "A", "type": "incident"}\n{"id": "B", "type": "problem", "recurrence_90d": 7}\n'
    alone = run_cli("classify", "-", "--jobs", "2", "--format", "csv", input=items)
    assert alone.exit_code == 0 and alone.stdout == run_cli("classify", "-", "--format", "csv", input=items).stdout
    assert ("rulebook: --jobs splits JSON lines in and out; with CSV output the items are decided in one process\n"
            in alone.stderr)
    (tmp_path / "items.csv").write_text("id,type\nA,incident\n")
    assert "with CSV input the items" in run_cli("classify", str(tmp_path / "items.csv"), "--jobs", "2", "-f", "jsonl").stderr
    annotated = run_cli("classify", "-", "--jobs", "0", "--annotate", input=items)
    assert annotated.exit_code == 0 and "with --annotate the items are decided in one process" in annotated.stderr
    assert [item["outcome"] for item in jsonl(annotated.stdout)] == ["routine_ticket", "process_improvement"]
    assert "--jobs" not in run_cli("classify", "-", "--jobs", "2", "--format", "jsonl", input=items).stderr


def test_jobs_start_workers_for_a_pipe_but_not_for_a_small_file(tmp_path) -> None:
    # a pipe's size says nothing of its length; a small file is decided faster in one process
    import os

    from engine.cli import _workers

    small = tmp_path / "small.jsonl"
    small.write_bytes(DATA)
    read_end, write_end = os.pipe()
    os.close(write_end)
    with open(small, "rb") as file, open(read_end, "rb") as pipe:
        assert (_workers(2, file, "jsonl", "jsonl"), _workers(2, pipe, "jsonl", "jsonl")) == (1, 2)


def test_workers_count_days_since_to_the_date_the_command_was_given(tmp_path) -> None:
    # each worker builds its own classifier: with the command's as-of date, not its own today
    policy = tmp_path / "aged.yaml"
    policy.write_text(POLICY_AGED)
    data = "".join(json.dumps({"id": n, "opened": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}"}) + "\n" for n in range(3000))
    command = [sys.executable, "-m", "engine", "classify", "-", "--policy", str(policy), "--as-of", "2025-07-01", "-q"]
    one = subprocess.run(command, input=data.encode(), capture_output=True, check=True)
    two = subprocess.run(command + ["--jobs", "2"], input=data.encode(), capture_output=True, check=True)
    assert one.stdout == two.stdout
    records = [json.loads(line) for line in two.stdout.splitlines()]
    assert {r["policy"]["as_of"] for r in records} == {"2025-07-01"}
    assert [r["outcome"] for r in records[:8]] == ["old", "old", "old", "old", "old", "new", "new", "new"]


POLICY_AGED = """\
rulebook: 1
kind: classification
name: aged
inputs:
  opened: {type: date, required: true}
outcomes: {old: Old., new: New.}
default: new
rules:
  - {id: old, outcome: old, when: days_since(opened) > 30}
"""
