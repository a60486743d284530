"""`rulebook diff`: both forms, every format, --fail-on-change, and the mistakes users make."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from .conftest import POLICIES, SCHEMAS, policy_text, run
from .test_compare import ITEMS, NEXT_RULES, RULES
from .test_revision import RULES as REPOSITORY_RULES
from .test_revision import git, make_repo

VALIDATOR = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "diff.schema.json").read_text()))


@pytest.fixture
def setup(write) -> tuple[str, str, str]:
    old = write("old/demand.yaml", policy_text(RULES))
    new = write("new/demand.yaml", policy_text(NEXT_RULES))
    items = write("items.jsonl", "".join(json.dumps(item) + "\n" for item in ITEMS))
    return str(old.parent), str(new), str(items)


def test_json_when_piped_following_the_published_schema(setup: tuple[str, str, str]) -> None:
    old, new, items = setup
    result = run("diff", old, new, "--items", items)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(VALIDATOR.iter_errors(document)) == []
    assert (document["items"], document["changed"]) == (7, 4)
    assert [(t["from"], t["to"], t["count"]) for t in document["transitions"]] == [
        ("process_improvement", "routine_ticket", 3), ("process_improvement", "initiative", 1)]
    assert document["old"]["file"].endswith("old/demand.yaml") and document["new"]["file"] == new
    assert result.stderr == ""


def test_table(setup: tuple[str, str, str]) -> None:
    old, new, items = setup
    result = run("diff", old, new, "--items", items, "--format", "table", "--examples", "1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Policy diff: test-policy 1 -> 1"
    assert "4 of 7 items (57.1%) change outcome." in lines
    assert any(line.split() == ["process_improvement", "routine_ticket", "3", "42.9%", "A,", "..."] for line in lines)
    assert any(line.split() == ["wide", "-", "1", "+1", "added"] for line in lines)


def test_markdown(setup: tuple[str, str, str]) -> None:
    old, new, items = setup
    result = run("diff", old, new, "--items", items, "--format", "markdown")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "## Policy diff: test-policy 1 → 1"
    assert "**4 of 7 items (57.1%) change outcome**." in lines
    assert "### Changed outcomes" in lines and "### Rules whose firing counts changed" in lines
    assert "| process_improvement | routine_ticket |       3 |   42.9% | A, B, G    |" in lines


def test_csv_items_and_another_id_field(write, setup: tuple[str, str, str]) -> None:
    old, new, _ = setup
    items = write("items.csv", "key,recurrence_90d,departments_affected\nK1,4,\nK2,6,5\nK3,,\n")
    document = json.loads(run("diff", old, new, "--items", str(items), "--id-field", "key").stdout)
    assert [(t["from"], t["to"], [e["id"] for e in t["examples"]]) for t in document["transitions"]] == [
        ("process_improvement", "routine_ticket", ["K1"]), ("process_improvement", "initiative", ["K2"])]
    from_stdin = run("diff", old, new, "--items", "-", "--input-format", "csv", "--id-field", "key",
                     input=items.read_text())
    assert json.loads(from_stdin.stdout) == document


def test_fail_on_change(setup: tuple[str, str, str]) -> None:
    old, new, items = setup
    assert run("diff", old, new, "--items", items, "--fail-on-change").exit_code == 1
    assert run("diff", old, new, "--items", items).exit_code == 0
    assert run("diff", old, old, "--items", items, "--fail-on-change").exit_code == 0


def test_an_item_that_becomes_an_error_fails_the_check(write, setup: tuple[str, str, str]) -> None:
    old, new, _ = setup
    items = write("one.jsonl", '{"id": "Z", "recurrence_90d": 1}\n')
    strict = write("strict.yaml", policy_text(RULES).replace("departments_affected: {type: integer, minimum: 1, default: 1}",
                                                              "departments_affected: {type: integer, minimum: 1, required: true}"))
    result = run("diff", old, str(strict), "--items", str(items), "--fail-on-change", "--format", "table")
    assert result.exit_code == 1
    assert "1 of 1 item (100.0%) changes outcome; 1 becomes an error." in result.stdout
    assert "'departments_affected' is required but missing" in result.stdout


def test_an_invalid_policy_names_its_side_and_stops(write, setup: tuple[str, str, str]) -> None:
    old, _, items = setup
    broken = write("broken.yaml", policy_text("- {id: r, outcome: nope, when: 'recurrence_90d > 1'}"))
    result = run("diff", old, str(broken), "--items", items)
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{broken}:19:22: error: outcome 'nope' is not declared under 'outcomes'" in result.stderr
    assert result.stderr.rstrip().endswith(f"rulebook: the new policy ({broken}) is invalid (1 error); nothing was compared")
    both = run("diff", str(broken), str(broken), "--items", items)
    assert "the old policy" in both.stderr and "the new policy" in both.stderr


@pytest.mark.parametrize("args, message", [
    (["one-path"], "name the OLD and NEW policies"),
    (["a", "b", "--base", "main"], "with --base, name one PATH"),
    (["OLD", "NEW", "--items", "missing.jsonl"], "cannot read items from 'missing.jsonl'"),
    (["OLD", "OLD", "--name", "other"], "the old policy (OLD): no policy named 'other'"),
    (["OLD", "GATES"], "the new policy (GATES): the policy set holds no classification policy"),
])
def test_usage_errors(setup: tuple[str, str, str], args: list[str], message: str) -> None:
    old, new, items = setup
    gates = str(POLICIES / "initiative-gates.yaml")
    args = [{"OLD": old, "NEW": new, "GATES": gates}.get(arg, arg) for arg in args]
    message = message.replace("(OLD)", f"({old})").replace("(GATES)", f"({gates})")
    if "--items" not in args:
        args += ["--items", items]
    result = run("diff", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_items_are_required(setup: tuple[str, str, str]) -> None:
    old, new, _ = setup
    result = run("diff", old, new)
    assert result.exit_code == 2 and "--items" in result.stderr


# -- --base: the old policy from git ----------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = make_repo(tmp_path)
    (repo / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    monkeypatch.chdir(repo)
    return repo


def test_base_compares_the_working_tree_with_a_revision(repo: Path) -> None:
    result = run("diff", "--base", "main", "--items", "items.jsonl", "--format", "markdown", "--fail-on-change")
    assert result.exit_code == 1, result.stderr
    assert "| old | test-policy 1 | `main:policies/demand.yaml` |" in result.stdout
    assert "| new | test-policy 1 | `policies/demand.yaml`      |" in result.stdout
    assert "**3 of 7 items (42.9%) change outcome**." in result.stdout  # threshold 3 -> 5
    assert git(repo, "status", "--porcelain") == " M policies/demand.yaml\n?? items.jsonl\n"

    git(repo, "commit", "-q", "-am", "raise the threshold")
    same = run("diff", "--base", "HEAD", "policies/demand.yaml", "--items", "items.jsonl", "--fail-on-change")
    assert same.exit_code == 0 and json.loads(same.stdout)["changed"] == 0
    assert json.loads(run("diff", "--base", "v1", "--items", "items.jsonl").stdout)["changed"] == 3


def test_base_with_a_policy_that_was_invalid_at_the_revision(repo: Path) -> None:
    (repo / "policies" / "demand.yaml").write_text(policy_text(REPOSITORY_RULES.replace("recurrence", "recurence")))
    git(repo, "commit", "-q", "-am", "typo")
    (repo / "policies" / "demand.yaml").write_text(policy_text(REPOSITORY_RULES))
    result = run("diff", "--base", "HEAD", "--items", "items.jsonl")
    assert result.exit_code == 1
    assert "HEAD:policies/demand.yaml:19:58: error: name 'recurence_90d' is not a declared input" in result.stderr
    assert "  19 |   - {id: recurring, outcome: process_improvement, when: 'recurence_90d >= 3'}" in result.stderr
    assert "rulebook: the old policy (HEAD:policies) is invalid (1 error); nothing was compared" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--base", "nope"], "unknown git revision 'nope'"),
    (["--base", "main", "policies/new.yaml"], "'policies/new.yaml' does not exist at 'main'"),
])
def test_base_usage_errors(repo: Path, args: list[str], message: str) -> None:
    (repo / "policies" / "new.yaml").write_text(policy_text(RULES).replace("test-policy", "other"))
    result = run("diff", *args, "--items", "items.jsonl")
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_base_needs_a_policy_path_where_there_is_no_policies_folder(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "policies")
    result = run("diff", "--base", "main", "--items", "../items.jsonl")
    assert result.exit_code == 2 and "there is no folder 'policies' here" in result.stderr
    from_inside = run("diff", "--base", "main", ".", "--items", "../items.jsonl")
    assert json.loads(from_inside.stdout)["old"]["file"] == "main:policies/demand.yaml"


def test_ids_that_yaml_reads_as_dates_are_written_as_text(write, setup: tuple[str, str, str]) -> None:
    old, new, _ = setup
    items = write("items.yaml", "- {id: 2026-01-01, recurrence_90d: 3}\n- {id: 7, recurrence_90d: -1}\n")
    document = json.loads(run("diff", old, new, "--items", str(items)).stdout)
    assert document["transitions"][0]["examples"] == [{"id": "2026-01-01", "line": 1}]
    assert document["errors"]["both"]["examples"][0]["id"] == 7
