"""`.pre-commit-hooks.yaml`: hooks pre-commit can install, each running a real rulebook command."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from engine.cli import cli

from .conftest import EXAMPLES, POLICIES, ROOT, run

HOOKS: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
REQUIRED = ("id", "name", "entry", "language")  # what pre-commit requires of every hook


def test_the_three_hooks_and_the_keys_pre_commit_requires() -> None:
    assert [hook["id"] for hook in HOOKS] == ["rulebook-validate", "rulebook-lint", "rulebook-test"]
    for hook in HOOKS:
        assert all(isinstance(hook.get(key), str) and hook[key] for key in REQUIRED), hook
        assert hook["language"] == "python"  # pre-commit installs this repository with pip
        assert hook["entry"] == "rulebook " + hook["id"].removeprefix("rulebook-")


def test_hooks_run_on_yaml_files_and_folder_commands_take_no_file_names() -> None:
    for hook in HOOKS:
        pattern = re.compile(hook["files"])
        assert pattern.search("policies/demand-intake.yaml") and pattern.search("team/gates.yml")
        assert not pattern.search("README.md") and not pattern.search("items.jsonl")
    passes = {hook["id"]: hook.get("pass_filenames", True) for hook in HOOKS}
    assert passes == {"rulebook-validate": True, "rulebook-lint": False, "rulebook-test": False}


def test_the_installed_command_is_called_rulebook() -> None:
    assert 'rulebook = "engine.launch:main"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("hook", [h for h in HOOKS if shlex.split(h["entry"])[1] in cli.commands], ids=lambda h: h["id"])
def test_each_hook_runs_its_command_as_pre_commit_would(hook: dict[str, Any]) -> None:
    """entry + args + (with pass_filenames) the changed files: 0 on the shipped policies, 1 on a broken one."""
    command = shlex.split(hook["entry"])[1:]
    if hook.get("pass_filenames", True):
        good, bad = [str(path) for path in sorted(POLICIES.glob("*.yaml"))], [str(EXAMPLES / "broken-policy.yaml")]
    else:
        good, bad = [str(POLICIES)], [str(EXAMPLES / "broken-policy.yaml")]  # what the documented args name
    assert run(*command, *good).exit_code == 0
    assert run(*command, *bad).exit_code == 1
