"""The shipped policies and examples work as documented, and the READMEs' commands run as written."""

from __future__ import annotations

import collections
import json
import re
import subprocess
from pathlib import Path

import pytest

import engine

from .conftest import EXAMPLES, POLICIES, ROOT, shell_environment


def test_every_shipped_policy_is_valid() -> None:
    from engine.validate import check_paths

    report = check_paths([str(POLICIES)])
    assert report.diagnostics == []
    assert [p.name for p in report.policy_set.classifications] == ["demand-intake"]
    assert [p.name for p in report.policy_set.gate_policies] == ["initiative-gates"]


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


# -- stage gates -----------------------------------------------------------------------------------


def test_the_default_gates_have_a_reason_for_every_gate_and_read_the_intake_outcomes() -> None:
    policy = engine.load(str(POLICIES))
    gates = policy.gates
    assert gates.stages == ("definition", "analysis", "approval", "charter")
    assert [(g.from_stage, g.to_stage) for g in gates.gates] == [
        ("definition", "analysis"), ("analysis", "approval"), ("approval", "charter")]
    assert all(gate.because and len(gate.because) > 40 for gate in gates.gates)
    assert "outcome" in gates.reads


def test_example_initiatives_show_every_reason_to_pass_or_be_held() -> None:
    policy = engine.load(str(POLICIES))
    items = [json.loads(line) for line in (EXAMPLES / "initiatives.jsonl").read_text().splitlines()]
    results = {r.item_id: r for r in policy.gate_all(items)}
    assert {item["stage"] for item in items} == set(policy.gates.stages)

    def held(item_id: str) -> list[tuple[str, str, str]]:
        result = results[item_id]
        assert result.result == "fail"
        return [(c.kind, c.name, c.status) for c in result.held_by]

    assert [r.item_id for r in results.values() if getattr(r, "result", None) == "pass"] == ["INI-0101", "INI-0103", "INI-0106"]
    assert held("INI-0102") == [("evidence", "sponsor", "not_met")]
    assert held("INI-0104") == [("condition", "within-budget", "not_met")]
    assert held("INI-0105") == [("condition", "capacity-available", "unknown")]
    assert held("INI-0107") == held("INI-0108") == held("INI-0109") == held("INI-0110") == [
        ("approval", "investment_board", "not_met")]
    board = {i: next(c for c in results[i].criteria if c.name == "investment_board")
             for i in ("INI-0107", "INI-0108", "INI-0109", "INI-0110")}
    assert (board["INI-0107"].approved, board["INI-0108"].approved, board["INI-0108"].needed) == (2, 3, 4)  # exactly half
    assert [v.by for v in board["INI-0109"].superseded] == ["head_of_architecture"]  # voted twice
    assert [v.by for v in board["INI-0110"].ignored] == ["hr_director"]  # not on the roster
    assert held("INI-0111") == [("approval", "budget-release", "not_met")]
    assert next(c for c in results["INI-0111"].criteria if c.name == "budget-release").vetoed_by == ("cfo",)
    assert all(c.missing for c in results["INI-0112"].held_by)  # no approvals field
    assert held("INI-0113") == [("skip", "skip", "not_met")]
    assert results["INI-0114"].result == "not_applicable"
    assert isinstance(results["INI-0115"], engine.Rejection)


def test_gating_annotated_items_gives_the_same_results_as_gating_raw_items() -> None:
    from .conftest import jsonl, run

    annotated = run("classify", "--annotate", str(EXAMPLES / "initiatives.jsonl"), "-p", str(POLICIES), "-q").stdout
    through_pipe = jsonl(run("gate", "-", "-p", str(POLICIES), "-q", input=annotated).stdout)
    direct = jsonl(run("gate", str(EXAMPLES / "initiatives.jsonl"), "-p", str(POLICIES), "-q").stdout)
    strip = lambda records: [{k: v for k, v in r.items() if k != "outcome"} for r in records]  # noqa: E731
    assert strip(through_pipe) == strip(direct) and len(direct) == 15
    assert {r["outcome"]["from"] for r in through_pipe if r.get("outcome")} == {"item"}
    assert {r["outcome"]["from"] for r in direct if r.get("outcome")} == {"classification"}


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
def test_documented_commands_print_what_the_documentation_shows(doc: str, index: int, tmp_path: Path) -> None:
    script, expected = console_blocks(ROOT / doc)[index]
    environment = shell_environment(tmp_path / "bin")
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
