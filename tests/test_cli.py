"""The rulebook command: results on stdout, diagnostics on stderr, designed exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import cli

from .conftest import POLICIES, ROOT, jsonl, policy_text, run

RULES = """
- id: recurring
  outcome: process_improvement
  when: recurrence_90d >= 3
  because: It recurs.
"""
ITEMS = '{"id": "A", "recurrence_90d": 4}\n{"id": "B"}\nnot json\n{"id": "D", "recurrence_90d": "x"}\n'


@pytest.fixture
def policy(write) -> Path:
    return write("policy.yaml", policy_text(RULES))


# -- validate -----------------------------------------------------------------------------------------


def test_validate_the_shipped_policies() -> None:
    result = run("validate")
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: 1 policy (demand-intake 2026.11), 13 rules")


def test_validate_reports_every_problem_as_file_line_column(write) -> None:
    path = write("bad.yaml", policy_text("""
        - id: r1
          outcome: initiatve
          when: recurence_90d >= 3
    """))
    result = run("validate", str(path))
    assert result.exit_code == 1
    first_lines = [line for line in result.stdout.splitlines() if line.startswith(str(path))]
    assert first_lines == [
        f"{path}:20:14: error: outcome 'initiatve' is not declared under 'outcomes'",
        f"{path}:21:11: error: name 'recurence_90d' is not a declared input",
    ]
    assert "  hint: did you mean 'recurrence_90d'?" in result.stdout
    assert result.stdout.rstrip().endswith("2 errors in 1 file")


def test_validate_json(write) -> None:
    path = write("bad.yaml", policy_text("- {id: r1, outcome: nope, when: 'recurrence_90d > 1'}"))
    document = json.loads(run("validate", str(path), "--format", "json").stdout)
    assert document["valid"] is False
    assert document["diagnostics"][0] | {"file": None} == {
        "file": None, "line": 19, "column": 23, "severity": "error", "code": "unknown-outcome",
        "message": "outcome 'nope' is not declared under 'outcomes'", "hint": "declared outcomes: routine_ticket, process_improvement, initiative, portfolio_review",
    }


# -- classify -----------------------------------------------------------------------------------------


def test_classify_one_record_per_item_and_exit_3_when_some_are_rejected(policy: Path, write) -> None:
    items = write("items.jsonl", ITEMS)
    result = run("classify", str(items), "--policy", str(policy))
    assert result.exit_code == 3
    records = jsonl(result.stdout)
    assert [(r.get("id"), r.get("outcome"), r.get("line")) for r in records] == [
        ("A", "process_improvement", None), ("B", "routine_ticket", None), (None, None, 3), ("D", None, 4)]
    assert records[3]["error"] == "'recurrence_90d' must be a whole number, not 'x'"
    assert result.stderr.strip() == (
        "rulebook: 4 items: 2 decided, 2 rejected (routine_ticket 1, process_improvement 1)"
    )


def test_classify_exit_0_when_all_are_decided_and_reads_stdin(policy: Path) -> None:
    result = run("classify", "-", "--policy", str(policy), "--quiet", input='{"id": 1}\n{"id": 2, "recurrence_90d": 9}\n')
    assert result.exit_code == 0 and result.stderr == ""
    assert [r["rule"] for r in jsonl(result.stdout)] == [None, "recurring"]


@pytest.mark.parametrize("fmt, check", [
    ("json", lambda out: [r["id"] for r in json.loads(out)] == ["A", "B", None, "D"]),
    ("csv", lambda out: out.splitlines()[0].startswith("id,line,outcome,rule,because,error")),
    ("table", lambda out: "REJECTED" in out and "process_improvement" in out),
])
def test_classify_output_formats(policy: Path, write, fmt: str, check) -> None:
    items = write("items.jsonl", ITEMS)
    result = run("classify", str(items), "--policy", str(policy), "--format", fmt)
    assert result.exit_code == 3 and check(result.stdout)


def test_classify_csv_and_yaml_and_json_inputs(policy: Path, write) -> None:
    csv_items = write("items.csv", "id,recurrence_90d,notes\nA,4,x\nB,,y\nC,lots,z\n")
    result = run("classify", str(csv_items), "--policy", str(policy))
    assert [(r["id"], r.get("rule"), r.get("line")) for r in jsonl(result.stdout)] == [
        ("A", "recurring", None), ("B", None, None), ("C", None, 4)]
    yaml_items = write("items.yaml", "- id: A\n  recurrence_90d: 4\n- id: B\n")
    assert [r["rule"] for r in jsonl(run("classify", str(yaml_items), "-p", str(policy)).stdout)] == ["recurring", None]
    json_items = write("items.json", '[{"id": "A", "recurrence_90d": 4}, {"id": "B"}]')
    assert [r["rule"] for r in jsonl(run("classify", str(json_items), "-p", str(policy)).stdout)] == ["recurring", None]
    as_csv = run("classify", "-", "-p", str(policy), "--input-format", "csv", input="id,recurrence_90d\nQ,5\n")
    assert jsonl(as_csv.stdout)[0]["rule"] == "recurring"


def test_classify_explain_attaches_the_trace(policy: Path) -> None:
    result = run("classify", "-", "-p", str(policy), "--explain", input='{"id": "A", "recurrence_90d": 4}\n')
    (record,) = jsonl(result.stdout)
    assert record["trace"]["rules"][0]["condition"]["inputs"] == [{"name": "recurrence_90d", "from": "item", "value": 4}]


def test_classify_id_field(policy: Path) -> None:
    result = run("classify", "-", "-p", str(policy), "--id-field", "number", input='{"number": "INC1", "recurrence_90d": 4}\n')
    assert jsonl(result.stdout)[0]["id"] == "INC1"


def test_classify_with_an_invalid_policy_exits_1_and_writes_nothing(write) -> None:
    path = write("bad.yaml", policy_text("- {id: r1, outcome: nope, when: 'recurrence_90d > 1'}"))
    result = run("classify", "-", "--policy", str(path), input='{"id": 1}\n')
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{path}:19:23: error: outcome 'nope' is not declared" in result.stderr


@pytest.mark.parametrize("args", [
    ["classify", "missing.jsonl"],
    ["classify", "-", "--format", "xml"],
    ["classify", "-", "--bogus"],
    ["classify", "-", "--policy", "no/such/folder"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run(*args, input="")
    assert result.exit_code in (1, 2)
    assert result.exit_code == (1 if "no/such/folder" in args else 2)


def test_choosing_among_several_policies(write) -> None:
    write("set/a.yaml", policy_text(RULES))
    write("set/b.yaml", policy_text(RULES).replace("test-policy", "other"))
    folder = str(Path(write("set/c.txt", "")).parent)
    ambiguous = run("classify", "-", "-p", folder, input='{"id": 1}\n')
    assert ambiguous.exit_code == 2 and "--name" in ambiguous.stderr
    chosen = run("classify", "-", "-p", folder, "--name", "other", input='{"id": 1}\n')
    assert chosen.exit_code == 0 and jsonl(chosen.stdout)[0]["policy"]["name"] == "other"


def test_output_is_byte_identical_across_runs(policy: Path, write) -> None:
    items = write("items.jsonl", ITEMS)
    first = run("classify", str(items), "-p", str(policy), "--explain").stdout
    assert first == run("classify", str(items), "-p", str(policy), "--explain").stdout


# -- explain ------------------------------------------------------------------------------------------


def test_explain_text_markdown_json(policy: Path) -> None:
    item = '{"id": "A", "recurrence_90d": 4}'
    text = run("explain", "-", "-p", str(policy), input=item)
    assert text.exit_code == 0 and "Rule 'recurring' fired" in text.stdout and "Because: It recurs." in text.stdout
    markdown = run("explain", "-", "-p", str(policy), "--format", "markdown", input=item)
    assert markdown.stdout.startswith("## Item 'A': process_improvement")
    document = json.loads(run("explain", "-", "-p", str(policy), "--format", "json", input=item).stdout)
    assert document["rule"] == "recurring" and document["trace"]["rules"][0]["result"] == "true"


def test_explain_reads_a_pretty_printed_json_file(policy: Path, write) -> None:
    path = write("item.json", '{\n  "id": "A",\n  "recurrence_90d": 4\n}\n')
    assert "Item 'A': process_improvement" in run("explain", str(path), "-p", str(policy)).stdout


def test_explain_an_invalid_item_exits_3(policy: Path) -> None:
    result = run("explain", "-", "-p", str(policy), input='{"id": "A", "recurrence_90d": -4}')
    assert result.exit_code == 3
    assert "line 1 (id 'A'): 'recurrence_90d' must be at least 0, not -4" in result.stderr


# -- help ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_examples(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and "rulebook " + command in result.stdout


def test_top_level_help_lists_commands_and_exit_codes() -> None:
    result = run("--help")
    assert all(name in result.stdout for name in cli.commands)
    assert "3 some items were rejected" in result.stdout


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in cli.commands:
        assert f"rulebook {command}" in readme


# -- as installed -------------------------------------------------------------------------------------


def installed_command() -> list[str]:
    found = shutil.which("rulebook", path=os.path.dirname(sys.executable)) or shutil.which("rulebook")
    return [found] if found else [sys.executable, "-m", "engine"]


def test_installed_command_finds_the_shipped_policies_from_any_folder(tmp_path: Path) -> None:
    result = subprocess.run(installed_command() + ["classify", "-"], input=b'{"id": "X", "type": "problem"}\n',
                            capture_output=True, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["outcome"], record["rule"]) == ("process_improvement", "problem-investigation")
    assert record["policy"]["name"] == "demand-intake"


def test_python_dash_m_engine(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "engine", "validate", str(POLICIES)], capture_output=True,
                            cwd=tmp_path, check=False, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ok:")
