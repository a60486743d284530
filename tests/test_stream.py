"""The stream: one record per item in input order, in one process or several."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys

import pytest

import engine
from engine.api import classifier_for
from engine.stream import blocks, run, run_parallel

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


def test_jobs_needs_jsonl_in_and_out() -> None:
    from .conftest import run as run_cli

    result = run_cli("classify", "-", "--jobs", "2", "--format", "csv", input="{}\n")
    assert result.exit_code == 2 and "--jobs needs JSONL" in result.stderr
