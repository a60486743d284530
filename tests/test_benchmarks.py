"""The benchmark scripts of benchmarks/ run, and the policy of each shape decides every item as
its hand-written twin does (the timings themselves are never asserted)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.parametrize("script", ["ops_shape.py", "events_shape.py", "import_shape.py"])
def test_each_shape_agrees_with_its_hand_written_twin_and_reports(script: str) -> None:
    rulebook = f"{shlex.quote(sys.executable)} -m engine"  # this checkout's engine, installed or not
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--items", "3000", "--rounds", "1",
                             "--rulebook", rulebook], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "every decision equal to the hand-written one" in result.stdout
    assert "| `policy.decide_many(items)` |" in result.stdout and "| `rulebook classify - --format jsonl` |" in result.stdout
