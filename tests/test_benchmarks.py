"""The benchmark scripts of benchmarks/ run, and the second shape's policy decides every item as
its hand-written twin does (the timings themselves are never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT


def test_the_second_shape_agrees_with_its_hand_written_twin_and_reports() -> None:
    rulebook = os.path.join(os.path.dirname(sys.executable), "rulebook")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ops_shape.py"), "--items", "2000", "--rounds", "1",
                             "--rulebook", rulebook], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "every decision equal to the hand-written one" in result.stdout
    assert "| `policy.decide_many(items)` |" in result.stdout and "| `rulebook classify - --format jsonl` |" in result.stdout
