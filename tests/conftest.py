"""Shared helpers: policy text builders, a CLI runner, and the golden-file switch."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLES = ROOT / "examples"
SCHEMAS = ROOT / "schemas"
GOLDEN = Path(__file__).resolve().parent / "golden"

# the command's start-up cache (engine/launch.py) goes to a folder of this test session, never
# the user's; commands run twice in the tests take the quick start the second time
os.environ["RULEBOOK_CACHE_DIR"] = tempfile.mkdtemp(prefix="rulebook-cache-")
atexit.register(shutil.rmtree, os.environ["RULEBOOK_CACHE_DIR"], ignore_errors=True)

# Property tests draw the same examples on every run by default, so a suite that passed on one
# machine passes on the next (the suite is what a change must pass to land); the `explore`
# profile draws new examples each run, to look for faults (HYPOTHESIS_PROFILE=explore).
settings.register_profile("gate", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))

HEADER = """\
rulebook: 1
kind: classification
name: test-policy
version: "1"
"""

BASIC_INPUTS = """\
inputs:
  type: {type: string, enum: [incident, request, problem, change, idea]}
  service_criticality: {type: string, enum: [low, medium, high, critical], default: low}
  recurrence_90d: {type: integer, minimum: 0, default: 0}
  departments_affected: {type: integer, minimum: 1, default: 1}
  estimated_cost: {type: number, minimum: 0}
"""

OUTCOMES = """\
outcomes:
  routine_ticket: Routine.
  process_improvement: Improve.
  initiative: Initiative.
  portfolio_review: Portfolio.
"""


def policy_text(rules: str, *, inputs: str = BASIC_INPUTS, hit: str = "first", default: str | None = "routine_ticket",
                outcomes: str = OUTCOMES) -> str:
    """A complete classification policy around `rules` (YAML for the `rules:` list)."""
    text = HEADER + inputs + outcomes + f"hit: {hit}\n"
    if default is not None:
        text += f"default: {default}\n"
    return text + "rules:\n" + textwrap.indent(textwrap.dedent(rules).strip("\n"), "  ") + "\n"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def write(tmp_path: Path) -> Any:
    """write(name, text) -> path of a new file under a temporary folder."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def run(*args: str, input: str | bytes | None = None) -> Result:
    """Run the rulebook command in-process; stdout and stderr are kept apart."""
    from engine.cli import cli

    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1 mixes stderr into stdout unless told
    except TypeError:
        runner = CliRunner()  # click 8.2 on keeps them apart, and has no such option
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False)


def shell_environment(bin_dir: Path) -> dict[str, str]:
    """An environment for commands run through a shell, as documented (`rulebook ...`,
    `python ...`), in which `rulebook` is the engine of this checkout run by the interpreter
    running the tests, whatever other copy a PATH holds."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "rulebook"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m engine "$@"\n')
    script.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return dict(checkout_environment(), PATH=path, COLUMNS="200")


def checkout_environment() -> dict[str, str]:
    """An environment in which `python -m engine` imports this checkout from any folder."""
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=python_path)


def jsonl(text: str) -> list[dict[str, Any]]:
    # split on newlines only: str.splitlines() also splits on characters JSON strings may hold raw
    return [json.loads(line) for line in text.split("\n") if line.strip()]


GATES_HEADER = HEADER.replace("kind: classification", "kind: gates").replace("test-policy", "test-gates")

GATES_INPUTS = """\
inputs:
  cost: {type: number, minimum: 0}
  budget: {type: number, minimum: 0}
  risk: {type: string, enum: [low, medium, high], default: low}
"""

ROSTER = """\
roster:
  board: [ana, ben, cho, dev, eli]
  pair: [cfo, controller]
"""


def gates_text(gates: str, *, stages: str = "[definition, analysis, approval, charter]", inputs: str = GATES_INPUTS,
               roster: str = ROSTER, extra: str = "") -> str:
    """A complete gates policy around `gates` (YAML for the value of `gates:`, a list or a mapping)."""
    return (GATES_HEADER + f"stages: {stages}\n" + extra + inputs + roster + "gates:\n"
            + textwrap.indent(textwrap.dedent(gates).strip("\n"), "  ") + "\n")
