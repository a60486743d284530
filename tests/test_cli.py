"""The rulebook command: results on stdout, diagnostics on stderr, designed exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import cli

from .conftest import POLICIES, ROOT, checkout_environment, gates_text, jsonl, policy_text, run
from .test_cli_diff import VALIDATOR as DIFF_SCHEMA

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
    assert result.stdout.startswith("ok: 2 policies (demand-intake 2026.11, initiative-gates 2026.11), 13 rules, 3 gates")


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


def test_validate_asks_for_a_policy_in_utf16_in_utf8_and_shows_its_text(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(policy_text(RULES).encode("utf-16"))
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:4] == [
        f"{path}:1:1: error: file is UTF-16, not UTF-8", "  1 | rulebook: 1", "    | ^",
        "  hint: save it as UTF-8 (in PowerShell: Set-Content -Encoding utf8, or Out-File -Encoding utf8)"]


def test_validate_json(write) -> None:
    path = write("bad.yaml", policy_text("- {id: r1, outcome: nope, when: 'recurrence_90d > 1'}"))
    document = json.loads(run("validate", str(path), "--format", "json").stdout)
    assert document["valid"] is False
    assert document["diagnostics"][0] | {"file": None} == {
        "file": None, "line": 19, "column": 23, "severity": "error", "code": "unknown-outcome",
        "message": "outcome 'nope' is not declared under 'outcomes'", "hint": "declared outcomes: routine_ticket, process_improvement, initiative, portfolio_review",
    }


def test_validate_of_a_folder_that_holds_no_policy_fails(write) -> None:
    rules = write("rules/reference.yaml", "rules:\n  - {id: R1, outcome: x, when: 'cost > 1'}\n")
    result = run("validate", str(rules.parent))
    assert result.exit_code == 1
    assert "warning: not a Rulebook document" in result.stdout
    assert result.stdout.rstrip().endswith("error: no Rulebook policy found; nothing was checked")
    assert json.loads(run("validate", str(rules.parent), "--format", "json").stdout)["valid"] is False
    # a commit hook hands over every YAML file a commit changes: one that is no policy is skipped
    named = run("validate", str(rules))
    assert named.exit_code == 0 and "warning: not a Rulebook document" in named.stdout
    write("rules/policy.yaml", policy_text(RULES))
    assert run("validate", str(rules.parent)).exit_code == 0  # the rule list beside a policy is only warned of


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


@pytest.mark.parametrize("command", ["classify", "gate"])
def test_an_id_field_the_first_item_lacks_is_pointed_out(write, command: str) -> None:
    items = write("items.jsonl", '{"number": "INC1", "stage": "definition"}\n{"number": "INC2"}\n')
    misspelt = run(command, str(items), "--id-field", "numbr", "--format", "jsonl")
    assert ("rulebook: the first item has no field 'numbr' (--id-field), so its id is null; did you mean 'number'?\n"
            in misspelt.stderr)
    assert {record["id"] for record in jsonl(misspelt.stdout)} == {None}
    right = run(command, str(items), "--id-field", "number", "--format", "jsonl")
    assert "--id-field" not in right.stderr and [record["id"] for record in jsonl(right.stdout)] == ["INC1", "INC2"]
    array = write("items.json", '[{"number": "INC1", "stage": "definition"},\n {"number": "INC2"}]\n')
    assert "did you mean 'number'?" in run(command, str(array), "--id-field", "numbr", "--format", "jsonl").stderr
    # the default id too: an export whose ids are under another name
    export = write("export.csv", "ID,stage\nINC1,definition\n")
    assert ("rulebook: the first item has no field 'id', so its id is null; did you mean 'ID'? (name it with "
            "--id-field)\n") in run(command, str(export), "--format", "jsonl").stderr
    unnamed = run(command, str(items), "--format", "jsonl").stderr
    assert "no field 'id', so its id is null; name the field that identifies items with --id-field\n" in unnamed


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
    assert result.exit_code == 2


def test_a_policy_path_holding_no_policy_says_why_each_file_was_passed_over(write) -> None:
    other = write("other.yaml", "a: 1\n")
    result = run("classify", "-", "-p", str(other), input='{"id": 1}\n')
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"{other}:1:1: warning: not a Rulebook document")
    assert "rulebook: the policy set holds no classification policy\n" in result.stderr
    empty = write("empty.yaml", "# nothing yet\n")
    result = run("classify", "-", "-p", str(empty), input='{"id": 1}\n')
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{empty}:1:1: warning: the file is empty or holds only comments; skipped")
    assert run("validate", str(empty)).exit_code == 0  # a commit hook may hand over any YAML file
    rule_list = write("rules.yaml", "rules:\n  - {id: a, when: x > 1}\n")
    result = run("classify", "-", "-p", str(rule_list), input='{"id": 1}\n')
    assert result.exit_code == 2 and result.stderr.count(f"rulebook import {rule_list}") == 1  # said once
    assert "warning" not in result.stderr


@pytest.mark.parametrize("args", [
    ["classify", "-", "--policy", "no/such.yaml"],
    ["gate", "-", "-p", "no/such.yaml"],
    ["explain", "-", "-p", str(POLICIES), "-p", "no/such.yaml"],
    ["diff", str(POLICIES), "no/such.yaml", "--items", "-"],
    ["diff", "no/such.yaml", str(POLICIES), "--items", "-"],
    ["lint", str(POLICIES), "no/such.yaml"],
])
def test_a_policy_path_that_is_not_there_is_a_usage_error(args: list[str]) -> None:
    result = run(*args, input='{"id": 1}\n')
    assert result.exit_code == 2 and result.stdout == ""
    assert "rulebook: no such policy file or folder 'no/such.yaml'" in result.stderr


def test_choosing_among_several_policies(write) -> None:
    write("set/a.yaml", policy_text(RULES))
    write("set/b.yaml", policy_text(RULES).replace("test-policy", "other"))
    folder = str(Path(write("set/c.txt", "")).parent)
    ambiguous = run("classify", "-", "-p", folder, input='{"id": 1}\n')
    assert ambiguous.exit_code == 2 and "--name" in ambiguous.stderr
    chosen = run("classify", "-", "-p", folder, "--name", "other", input='{"id": 1}\n')
    assert chosen.exit_code == 0 and jsonl(chosen.stdout)[0]["policy"]["name"] == "other"
    misspelt = run("classify", "-", "-p", folder, "--name", "othr", input='{"id": 1}\n')
    assert misspelt.exit_code == 2 and "no policy named 'othr'; did you mean 'other'?" in misspelt.stderr


def test_output_is_byte_identical_across_runs(policy: Path, write) -> None:
    items = write("items.jsonl", ITEMS)
    first = run("classify", str(items), "-p", str(policy), "--explain").stdout
    assert first == run("classify", str(items), "-p", str(policy), "--explain").stdout


def test_items_saved_as_utf16_are_read_as_the_same_text(policy: Path, write, tmp_path: Path) -> None:
    # as Windows PowerShell 5 writes them with `>`: a byte order mark, CR LF
    items = write("items.jsonl", ITEMS.replace("B", "caf\u00e9"))
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(items.read_text().replace("\n", "\r\n").encode("utf-16"))
    expected = run("classify", str(items), "-p", str(policy), "-f", "jsonl")
    assert expected.exit_code == 3 and "caf\u00e9" in expected.stdout
    for args, stdin in [([str(wide)], None), (["-"], wide.read_bytes()), ([str(wide), "--explain"], None)]:
        got = run("classify", *args, "-p", str(policy), "-f", "jsonl", input=stdin)
        if "--explain" in args:
            expected = run("classify", str(items), "-p", str(policy), "-f", "jsonl", "--explain")
        assert (got.exit_code, got.stdout, got.stderr) == (expected.exit_code, expected.stdout, expected.stderr)
    item = tmp_path / "item.json"
    item.write_bytes('{\r\n  "id": "A",\r\n  "recurrence_90d": 4\r\n}\r\n'.encode("utf-16"))
    assert "Item 'A': process_improvement" in run("explain", str(item), "-p", str(policy)).stdout


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


def test_explain_reads_pretty_printed_json_on_stdin_and_json_lines_as_lines(policy: Path) -> None:
    # as curl or jq hand it over: one item over several lines, no file name to say it is JSON
    pretty = run("explain", "-", "-p", str(policy), input='{\n  "id": "A",\n  "recurrence_90d": 4\n}\n')
    assert pretty.exit_code == 0 and pretty.stdout.startswith("Item 'A': process_improvement")
    lines = run("explain", "-", "-p", str(policy), input='{"id": "A", "recurrence_90d": 4}\n{"id": "B"}\n')
    assert lines.exit_code == 0 and "Item 'A'" in lines.stdout and "Item 'B'" in lines.stdout
    # a list of items on one line, as an export or `jq -c` writes it
    listed = run("explain", "-", "-p", str(policy), input='[{"id": "A", "recurrence_90d": 4}, {"id": "B"}]\n')
    assert listed.exit_code == 0 and "Item 'A'" in listed.stdout and "Item 'B'" in listed.stdout


def test_values_nested_as_deeply_as_items_may_be_are_traced_and_explained(write) -> None:
    inputs = "inputs:\n  meta: {type: object}\n  recurrence_90d: {type: integer, default: 0}\n"
    folder = write("deep/policy.yaml", policy_text("- {id: r1, outcome: initiative, when: 'meta == meta'}",
                                                   inputs=inputs)).parent
    deep = "1"
    for _ in range(990):
        deep = '{"k": ' + deep + "}"
    items = '{"id": "A"}\n{"id": "B", "meta": ' + deep + "}\n"
    for options in (["--explain"], ["--explain", "-f", "csv"], ["-f", "table"]):
        result = run("classify", "-", "-p", str(folder), "-q", *options, input=items)
        assert result.exit_code == 0 and "initiative" in result.stdout, options  # B's outcome, A's is the default
    for fmt in ("text", "json", "markdown"):
        result = run("explain", "-", "-p", str(folder), "-f", fmt, input=items)
        assert result.exit_code == 0 and "initiative" in result.stdout, fmt


def test_explain_an_invalid_item_exits_3(policy: Path) -> None:
    result = run("explain", "-", "-p", str(policy), input='{"id": "A", "recurrence_90d": -4}')
    assert result.exit_code == 3
    assert "line 1 (id 'A'): 'recurrence_90d' must be at least 0, not -4" in result.stderr


# -- gate ---------------------------------------------------------------------------------------------

GATES = """
- to: analysis
  require: [problem_statement]
- to: approval
  when: cost <= budget
- to: charter
  approvals: {from: board, rule: majority}
"""
GATE_ITEMS = (
    '{"id": "A", "stage": "definition", "problem_statement": "Slow."}\n'
    '{"id": "B", "stage": "analysis", "cost": 5}\n'
    '{"id": "C", "stage": "approval", "approvals": [{"by": "ana", "vote": "approve"}]}\n'
    '{"id": "D", "stage": "charter"}\n'
    'not json\n'
)


@pytest.fixture
def gates(write) -> Path:
    return write("gates.yaml", gates_text(GATES))


def test_gate_one_record_per_item_and_exit_3_when_some_are_rejected(gates: Path) -> None:
    result = run("gate", "-", "--policy", str(gates), input=GATE_ITEMS)
    assert result.exit_code == 3
    records = jsonl(result.stdout)
    assert [(r["id"], r.get("target"), r.get("result"), r.get("line")) for r in records] == [
        ("A", "analysis", "pass", None), ("B", "approval", "fail", None), ("C", "charter", "fail", None),
        ("D", None, None, 4), (None, None, None, 5)]
    assert records[1]["criteria"][0]["status"] == "unknown"
    assert records[3]["error"] == "the item is at 'charter', the last stage; there is no stage to move to"
    assert result.stderr.strip() == "rulebook: 5 items: 3 decided, 2 rejected (pass 1, fail 2)"


def test_gate_exit_0_when_every_item_is_checked_whatever_its_result(gates: Path) -> None:
    result = run("gate", "-", "-p", str(gates), "--quiet", input='{"id": "B", "stage": "analysis"}\n')
    assert result.exit_code == 0 and result.stderr == ""
    assert jsonl(result.stdout)[0]["result"] == "fail"


def test_gate_to_a_later_stage(gates: Path) -> None:
    result = run("gate", "-", "-p", str(gates), "--to", "charter", "-q", input='{"id": "A", "stage": "definition"}\n')
    (record,) = jsonl(result.stdout)
    assert (record["target"], record["result"], record["criteria"][0]["kind"]) == ("charter", "fail", "skip")
    assert record["criteria"][0]["skipped"] == ["analysis", "approval"]
    wrong = run("gate", "-", "-p", str(gates), "--to", "chartr", input="{}\n")
    assert wrong.exit_code == 2 and "did you mean 'charter'?" in wrong.stderr


@pytest.mark.parametrize("fmt, check", [
    ("json", lambda out: [r.get("result") for r in json.loads(out)] == ["pass", "fail", "fail", None, None]),
    ("csv", lambda out: out.splitlines()[0].startswith("id,line,stage,target,result,held_by,outcome,criteria,error")),
    ("table", lambda out: "REJECTED" in out and "board: 1 approved, 3 needed" in out),
])
def test_gate_output_formats(gates: Path, fmt: str, check) -> None:
    result = run("gate", "-", "-p", str(gates), "--format", fmt, input=GATE_ITEMS)
    assert result.exit_code == 3 and check(result.stdout), result.stdout


def test_gate_reads_csv_with_votes_as_json(gates: Path) -> None:
    csv_items = 'id,stage,cost,budget,approvals\nB,analysis,5,10,\nC,approval,,,"[{""by"": ""ana"", ""vote"": ""approve""}]"\n'
    result = run("gate", "-", "-p", str(gates), "-i", "csv", "-q", input=csv_items)
    records = jsonl(result.stdout)
    assert [r["result"] for r in records] == ["pass", "fail"]
    assert records[1]["criteria"][0]["approvers"] == ["ana"]


def test_gate_explain_attaches_the_trace(gates: Path) -> None:
    result = run("gate", "-", "-p", str(gates), "--explain", "-q", input='{"id": "B", "stage": "analysis", "cost": 5}\n')
    (record,) = jsonl(result.stdout)
    condition = record["trace"]["gates"][0]["conditions"][0]["condition"]
    assert condition["inputs"] == [{"name": "cost", "from": "item", "value": 5}, {"name": "budget", "from": "missing"}]


def test_gate_needs_a_gates_policy(policy: Path, write) -> None:
    result = run("gate", "-", "-p", str(policy), input="{}\n")
    assert result.exit_code == 2 and "holds no gates policy" in result.stderr
    broken = write("broken.yaml", gates_text(GATES.replace("from: board", "from: bord")))
    result = run("gate", "-", "-p", str(broken), input="{}\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert "nothing was checked at its gates" in result.stderr and "did you mean 'board'?" in result.stderr


def test_classify_annotate_pipes_into_gate(write) -> None:
    folder = write("set/intake.yaml", policy_text(RULES)).parent
    write("set/gates.yaml", gates_text(GATES, extra="applies_to: outcome == 'process_improvement'\n"))
    items = '{"id": "A", "recurrence_90d": 4, "stage": "definition", "problem_statement": "x"}\n{"id": "B", "stage": "definition"}\n{"id": "C", "recurrence_90d": -1}\n'
    annotated = run("classify", "-", "-p", str(folder), "--annotate", input=items)
    assert annotated.exit_code == 3
    records = jsonl(annotated.stdout)
    assert records[0] == {"id": "A", "recurrence_90d": 4, "stage": "definition", "problem_statement": "x",
                          "outcome": "process_improvement", "rule": "recurring", "because": "It recurs."}
    assert list(records[2]) == ["id", "line", "error", "policy"]  # an error record, as without --annotate
    gated = run("gate", "-", "-p", str(folder), "-q", input="\n".join(json.dumps(r) for r in records[:2]) + "\n")
    first, second = jsonl(gated.stdout)
    assert first["result"] == "pass" and first["outcome"] == {
        "outcome": "process_improvement", "rule": "recurring", "from": "item", "policy": None}
    assert second["result"] == "not_applicable"


def test_classify_annotate_passes_a_line_that_holds_no_item_on_as_an_error_record(policy: Path) -> None:
    result = run("classify", "-", "-p", str(policy), "--annotate", input=ITEMS + '{"id": "E"}\n')
    assert result.exit_code == 3
    records = jsonl(result.stdout)
    assert [record.get("id") for record in records] == ["A", "B", None, "D", "E"]
    assert records[2]["line"] == 3 and records[2]["error"].startswith("line is not JSON")
    assert records[4] == {"id": "E", "outcome": "routine_ticket", "rule": None, "because": records[1]["because"]}


@pytest.mark.parametrize("options", [["--format", "csv"], ["--format", "table"], ["--explain"]])
def test_classify_annotate_writes_only_json(policy: Path, options: list[str]) -> None:
    result = run("classify", "-", "-p", str(policy), "--annotate", *options, input="{}\n")
    assert result.exit_code == 2 and "--annotate" in result.stderr


def test_explain_a_gate_result(write) -> None:
    folder = write("set/intake.yaml", policy_text(RULES)).parent
    write("set/gates.yaml", gates_text(GATES))
    item = '{"id": "B", "stage": "analysis", "cost": 5}'
    text = run("explain", "-", "-p", str(folder), "--gate", input=item)
    assert text.exit_code == 0 and text.stdout.startswith("Item 'B': held at 'analysis', not ready for 'approval'")
    assert "budget is missing" in text.stdout
    markdown = run("explain", "-", "-p", str(folder), "--gate", "--format", "markdown", input=item)
    assert markdown.stdout.startswith("## Item 'B': held at `analysis`")
    document = json.loads(run("explain", "-", "-p", str(folder), "--to", "charter", "--format", "json", input=item).stdout)
    assert (document["target"], document["result"]) == ("charter", "fail")  # --to implies --gate
    classified = run("explain", "-", "-p", str(folder), input=item)
    assert classified.stdout.startswith("Item 'B': routine_ticket")


def test_explain_a_gates_only_policy_set_without_the_flag(gates: Path) -> None:
    result = run("explain", "-", "-p", str(gates), input='{"id": "A", "stage": "definition"}')
    assert result.exit_code == 0 and "Missing evidence: problem_statement." in result.stdout
    bad = run("explain", "-", "-p", str(gates), input='{"id": "A"}')
    assert bad.exit_code == 3 and "'stage' is required but missing" in bad.stderr


def test_validate_reports_both_kinds(write) -> None:
    folder = write("set/intake.yaml", policy_text(RULES)).parent
    write("set/gates.yaml", gates_text(GATES))
    result = run("validate", str(folder))
    assert result.stdout.strip() == "ok: 2 policies (test-gates 1, test-policy 1), 1 rule, 3 gates"
    document = json.loads(run("validate", str(folder), "--format", "json").stdout)
    assert [(p["name"], p["kind"], p.get("rules"), p.get("gates")) for p in document["policies"]] == [
        ("test-gates", "gates", None, 3), ("test-policy", "classification", 1, None)]


# -- test ---------------------------------------------------------------------------------------------


def test_rulebook_test_runs_the_shipped_tests_with_full_coverage() -> None:
    result = run("test", "--min-coverage", "100")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "35 passed, 0 failed"
    assert "Coverage: 25 of 25 rules, defaults and gate criteria exercised (100%)" in lines
    assert result.stderr == ""


@pytest.fixture
def failing_tests(write) -> Path:
    write("set/intake.yaml", policy_text(RULES))
    return write("set/tests/cases.yaml", "rulebook: 1\nkind: tests\nname: agreed\npolicy: ..\ncases:\n"
                 "  - {name: recurs, item: {recurrence_90d: 3}, expect: {outcome: process_improvement, rule: recurring}}\n"
                 "  - {name: wrong, item: {recurrence_90d: 1}, expect: process_improvement}\n")


def test_rulebook_test_exits_1_on_a_failing_case_and_counts_in_the_last_line(failing_tests: Path) -> None:
    result = run("test", str(failing_tests))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].split() == ["1", "passed,", "1", "failed"]
    assert f"FAIL {failing_tests}:7: wrong" in result.stdout
    quiet = run("test", str(failing_tests), "-q").stdout.splitlines()
    assert quiet[0] == (f"FAIL  {failing_tests}:7: wrong: expected outcome process_improvement; "
                        "got outcome routine_ticket, rule (default)")


def test_rulebook_test_min_coverage(write) -> None:
    path = write("set/tests/cases.yaml", "rulebook: 1\nkind: tests\npolicy: ..\ncases:\n"
                 "  - {name: recurs, item: {recurrence_90d: 3}, expect: process_improvement}\n")
    write("set/intake.yaml", policy_text(RULES))
    below = run("test", str(path), "--min-coverage", "60")
    assert below.exit_code == 1 and "FAIL: coverage 50% is below the required 60% (--min-coverage)" in below.stdout
    assert below.stdout.splitlines()[-1] == "1 passed, 0 failed"
    assert run("test", str(path), "--min-coverage", "50").exit_code == 0
    assert run("test", str(path), "--min-coverage", "101").exit_code == 2


def test_rulebook_test_writes_junit_xml(failing_tests: Path, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    report = tmp_path / "report.xml"
    result = run("test", str(failing_tests), "--junit", str(report))
    assert result.exit_code == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert [(c.get("name"), c.find("failure") is not None) for c in suite.findall("testcase")] == [
        ("recurs", False), ("wrong", True)]
    unwritable = run("test", str(failing_tests), "--junit", str(tmp_path / "no" / "such" / "folder.xml"))
    assert unwritable.exit_code == 2 and "cannot write" in unwritable.stderr


def test_rulebook_test_json(failing_tests: Path) -> None:
    result = run("test", str(failing_tests), "--format", "json")
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and (document["passed"], document["failed"]) == (1, 1)


def test_rulebook_test_with_an_invalid_test_file_exits_1_and_runs_nothing(failing_tests: Path) -> None:
    failing_tests.write_text(failing_tests.read_text().replace("rule: recurring", "rule: recuring"))
    result = run("test", str(failing_tests))
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{failing_tests}:6:92: error: 'recuring' is not a rule of 'test-policy'" in result.stderr
    assert result.stderr.rstrip().endswith("rulebook: 1 error in 1 file; no case was run")


def test_rulebook_test_usage_errors_exit_2(policy: Path, tmp_path: Path) -> None:
    assert run("test", str(tmp_path / "missing")).exit_code == 2
    result = run("test", str(policy))
    assert result.exit_code == 2 and "no test files" in result.stderr


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
                            cwd=tmp_path, env=checkout_environment(), check=False, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ok:")


# -- lint ---------------------------------------------------------------------------------------------


def test_lint_reports_findings_with_witnesses_and_exits_1(write) -> None:
    text = policy_text("""
        - id: recurring
          outcome: process_improvement
          when: recurrence_90d >= 3
        - id: very-recurring
          outcome: initiative
          when: recurrence_90d >= 10
        - id: never
          outcome: initiative
          when: recurrence_90d > 5 and recurrence_90d < 3
    """)
    path = write("planted.yaml", text)
    shadowed_line = text.splitlines().index("  - id: very-recurring") + 1
    never_line = text.splitlines().index("  - id: never") + 1
    result = run("lint", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{path}:{shadowed_line}:5: error: rule 'very-recurring' can never fire: whenever it matches, earlier rule 'recurring' decides first" in lines
    assert any(line.startswith("  witness: {") and '"recurrence_90d":' in line for line in lines)
    assert f"{path}:{never_line}:5: error: rule 'never' can never fire: `recurrence_90d > 5` and `recurrence_90d < 3` cannot all hold" in lines
    assert lines[-1].startswith("2 errors,")
    document = json.loads(run("lint", str(path), "--format", "json").stdout)
    assert document["errors"] == 2
    shadowed = next(f for f in document["findings"] if f["code"] == "shadowed-rule")
    assert shadowed["related"] == ["recurring"] and shadowed["witness"]["recurrence_90d"] >= 10


def test_lint_of_the_shipped_policies_has_no_errors() -> None:
    result = run("lint")
    assert result.exit_code == 0 and "0 errors" in result.stdout


def test_lint_of_a_folder_without_policies_fails_as_validate_does(write) -> None:
    folder = write("other/rules.yaml", "rules:\n  - id: a\n").parent
    result = run("lint", str(folder))
    assert result.exit_code == 1 and result.stdout.strip() == "error: no Rulebook policy found; nothing was linted"
    named = run("lint", str(folder / "rules.yaml"))  # a commit hook hands over every YAML file it changes
    assert named.exit_code == 0 and named.stdout.strip() == "no policies found"


def test_lint_without_the_solver_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_z3(name: str, *args, **kwargs):
        if name == "z3":
            raise ImportError("No module named 'z3'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_z3)
    result = run("lint", str(POLICIES))
    assert result.exit_code == 2 and "pip install 'rulebook[lint]'" in result.stderr


# -- the as-of date of days_since() ----------------------------------------------------------------------

AGED = policy_text("""
- id: stale
  outcome: process_improvement
  when: days_since(opened) > 30
""", inputs="inputs:\n  opened: {type: date, required: true}\n")
AGED_ITEMS = '{"id": "A", "opened": "2026-01-01"}\n{"id": "B", "opened": "2026-02-20"}\n{"id": "C", "opened": "soon"}\n'


def test_classify_counts_days_since_to_the_as_of_date_and_names_it(write) -> None:
    policy = write("aged.yaml", AGED)
    march = run("classify", "-", "-p", str(policy), "--as-of", "2026-03-01", "-q", input=AGED_ITEMS)
    records = jsonl(march.stdout)
    assert [r.get("rule") for r in records] == ["stale", None, None] and march.exit_code == 3
    assert {r["policy"]["as_of"] for r in records} == {"2026-03-01"}  # error records too
    january = run("classify", "-", "-p", str(policy), "--as-of", "2026-01-15", "-q", input=AGED_ITEMS)
    assert [r.get("rule") for r in jsonl(january.stdout)] == [None, None, None]
    today = run("classify", "-", "-p", str(policy), "-q", input=AGED_ITEMS)  # by default: today, in UTC
    assert jsonl(today.stdout)[0]["policy"]["as_of"] == dt.datetime.now(dt.UTC).date().isoformat()
    moment = run("classify", "-", "-p", str(policy), "--as-of", "2026-02-01T12:00:00+02:00", "-q", input=AGED_ITEMS)
    assert jsonl(moment.stdout)[0]["policy"]["as_of"] == "2026-02-01T12:00:00+02:00"
    csv = run("classify", "-", "-p", str(policy), "--as-of", "2026-03-01", "-f", "csv", "-q", input=AGED_ITEMS)
    header, first = csv.stdout.splitlines()[:2]
    assert header.endswith(",policy_sha256,policy_as_of") and first.endswith(",2026-03-01")


def test_records_of_a_policy_without_days_since_name_no_date(policy: Path) -> None:
    result = run("classify", "-", "-p", str(policy), "--as-of", "2026-03-01", "-f", "csv", input='{"id": "A"}\n')
    assert result.stdout.splitlines()[0].endswith(",policy_sha256") and "2026-03-01" not in result.stdout
    assert "as_of" not in jsonl(run("classify", "-", "-p", str(policy), input='{"id": "A"}\n').stdout)[0]["policy"]


@pytest.mark.parametrize("value", ["2026-13-01", "tomorrow", "01/03/2026"])
def test_an_as_of_that_is_no_date_is_a_usage_error(value: str) -> None:
    result = run("classify", "-", "--as-of", value, input="{}\n")
    assert result.exit_code == 2 and "is not a date: write it as 2026-12-02" in result.stderr


def test_explain_gate_and_diff_count_to_the_as_of_date(write) -> None:
    policy = write("aged.yaml", AGED)
    text = run("explain", "-", "-p", str(policy), "--as-of", "2026-03-01", input='{"id": "A", "opened": "2026-01-01"}\n')
    assert "Rule 'stale' fired" in text.stdout and text.stdout.rstrip().endswith(", as of 2026-03-01)")
    assert "days_since(opened) > 30   (opened = 2026-01-01; days_since(opened) = 59; as of 2026-03-01)" in text.stdout
    gates = write("aged-gates.yaml", gates_text("- to: analysis\n  when: days_since(opened) <= 30\n",
                                                inputs="inputs:\n  opened: date\n"))
    gated = run("gate", "-", "-p", str(gates), "--as-of", "2026-03-01", "-q",
                input='{"id": "A", "stage": "definition", "opened": "2026-02-20"}\n')
    (record,) = jsonl(gated.stdout)
    assert record["result"] == "pass" and record["policy"]["as_of"] == "2026-03-01"
    later = run("gate", "-", "-p", str(gates), "--as-of", "2026-04-01", "-q",
                input='{"id": "A", "stage": "definition", "opened": "2026-02-20"}\n')
    assert jsonl(later.stdout)[0]["result"] == "fail"
    told = run("explain", "--gate", "-", "-p", str(gates), "--as-of", "2026-04-01",
               input='{"id": "A", "stage": "definition", "opened": "2026-02-20"}\n')
    assert "days_since(opened) <= 30   (opened = 2026-02-20; days_since(opened) = 40; as of 2026-04-01)" in told.stdout
    recent = write("recent-gates.yaml", gates_text("- to: analysis\n  require: [plan]\n", inputs="inputs:\n  opened: date\n",
                                                   extra="applies_to: days_since(opened) < 100\n"))
    skipped = run("explain", "--gate", "-", "-p", str(recent), "--as-of", "2026-12-02",
                  input='{"id": "A", "stage": "definition", "opened": "2026-01-20"}\n')
    assert "it is false (opened = 2026-01-20; days_since(opened) = 316; as of 2026-12-02), so no gate is checked" in skipped.stdout
    stricter = write("stricter.yaml", AGED.replace("> 30", "> 60"))
    items = write("aged.jsonl", AGED_ITEMS)
    report = json.loads(run("diff", str(policy), str(stricter), "--items", str(items), "--as-of", "2026-03-01").stdout)
    assert report["old"]["as_of"] == report["new"]["as_of"] == "2026-03-01"
    assert list(DIFF_SCHEMA.iter_errors(report)) == []
    assert [(t["from"], t["to"], t["count"]) for t in report["transitions"]] == [("process_improvement", "routine_ticket", 1)]
