"""The shipped policies and examples work as documented, and the READMEs' commands run as written."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import engine

from .conftest import EXAMPLES, POLICIES, ROOT


def test_every_shipped_policy_is_valid() -> None:
    from engine.validate import check_paths

    report = check_paths([str(POLICIES)])
    assert report.diagnostics == []
    assert [p.name for p in report.policy_set.classifications] == ["demand-intake"]


def test_default_policy_has_the_four_outcomes_and_a_reason_for_every_rule() -> None:
    policy = engine.load(str(POLICIES)).classification
    assert set(policy.outcome_names) == {"routine_ticket", "process_improvement", "initiative", "portfolio_review"}
    assert all(rule.because and len(rule.because) > 40 for rule in policy.rules)


def example_items() -> list[dict]:
    return [json.loads(line) for line in (EXAMPLES / "items.jsonl").read_text().splitlines() if line.strip()]


def test_examples_make_every_rule_fire_and_the_default_apply() -> None:
    policy = engine.load(str(POLICIES))
    items = example_items()
    assert len(items) >= 40
    fired = collections.Counter(policy.classify(item).rule for item in items)
    assert set(fired) == {rule.id for rule in policy.classification.rules} | {None}


def test_csv_examples_are_the_same_items_with_the_same_decisions() -> None:
    from .conftest import jsonl, run

    from_jsonl = jsonl(run("classify", str(EXAMPLES / "items.jsonl"), "-p", str(POLICIES), "-q").stdout)
    from_csv = jsonl(run("classify", str(EXAMPLES / "items.csv"), "-p", str(POLICIES), "-q").stdout)
    assert from_jsonl == from_csv and len(from_csv) == len(example_items())


def test_bad_items_give_one_record_per_line_and_exit_3() -> None:
    from .conftest import jsonl, run

    result = run("classify", str(EXAMPLES / "bad-items.jsonl"), "-p", str(POLICIES))
    records = jsonl(result.stdout)
    lines = (EXAMPLES / "bad-items.jsonl").read_text().splitlines()
    assert result.exit_code == 3 and len(records) == len(lines)
    assert [r["line"] for r in records if "error" in r] == [2, 4, 5]


def test_the_broken_example_policy_shows_two_errors() -> None:
    from .conftest import run

    result = run("validate", str(EXAMPLES / "broken-policy.yaml"))
    assert result.exit_code == 1 and result.stdout.rstrip().endswith("2 errors in 1 file")


# -- the documentation's commands ------------------------------------------------------------------


def console_blocks(path: Path) -> list[tuple[str, list[str]]]:
    """(script, expected output lines) for every ```console block."""
    blocks = re.findall(r"```console\n(.*?)```", path.read_text(), flags=re.S)
    found = []
    for block in blocks:
        commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
        expected = [line for line in block.splitlines() if line and not line.startswith("$ ")]
        found.append(("\n".join(commands), expected))
    return found


DOCS = [(doc, index) for doc in ("README.md", "examples/README.md") for index in range(len(console_blocks(ROOT / doc)))]


@pytest.mark.parametrize("doc, index", DOCS)
def test_documented_commands_print_what_the_documentation_shows(doc: str, index: int) -> None:
    script, expected = console_blocks(ROOT / doc)[index]
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
                       COLUMNS="200")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, env=environment, check=False)
    actual = (result.stdout + result.stderr).splitlines()
    for line in expected:
        if line.strip() == "...":
            continue
        if "..." in line:
            prefix = line.split("...")[0]
            assert any(out.startswith(prefix) for out in actual), (line, actual)
        else:
            assert line in actual, (line, "\n".join(actual))
