"""The example CI workflow for a policy repository (examples/ci/policies.yml), run for real.

Each test builds a policy repository in a temporary folder (the default policies and their
tests, a sample of items, the workflow), clones it as the CI checkout would, makes a change
on a branch and runs the workflow's own steps with bash: their `run` scripts, `env` and `if`
conditions as GitHub Actions evaluates them. Steps that need the hosted service (check out,
set up Python, install from the repository URL, post a comment, upload) are not run; the
tests check what they would be given instead.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from simpleeval import simple_eval

from engine.api import load

from .conftest import shell_environment

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "ci" / "policies.yml"
POLICIES = ROOT / "policies"
ITEMS = ROOT / "examples" / "items.jsonl"
REPOSITORY = "governance/policies"

# Steps that talk to the hosting service; the checkout is the clone each test makes.
HOSTED_ACTIONS = ("actions/checkout@", "actions/setup-python@", "actions/upload-artifact@")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def workflow_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return workflow["jobs"]["check"]["steps"]


# -- GitHub Actions expressions, as far as the workflow uses them -------------------------------

STATUS_FUNCTIONS = ("success()", "failure()", "cancelled()", "always()")


def evaluate(expression: str, context: dict[str, Any], failed: bool) -> Any:
    """Evaluate a `${{ }}` expression the way GitHub Actions does for the operators and
    contexts the workflow uses; a context name the test does not know is an error."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    names: dict[str, Any] = {"success_": not failed, "failure_": failed, "cancelled_": False, "always_": True}
    for function in STATUS_FUNCTIONS:
        text = text.replace(function, function[:-2] + "_")

    def context_name(match: re.Match[str]) -> str:
        dotted = match.group(0)
        if dotted not in context:
            raise AssertionError(f"the workflow reads {dotted!r}, which this test does not provide")
        placeholder = f"context_{len(names)}"
        names[placeholder] = context[dotted]
        return placeholder

    text = re.sub(r"\b(?:github|steps)(?:\.[A-Za-z_][\w-]*)+", context_name, text)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    return simple_eval(text, names=names)


def step_condition(step: dict[str, Any], context: dict[str, Any], failed: bool) -> bool:
    condition = step.get("if")
    if condition is None:
        return not failed
    # Without a status function, GitHub Actions runs a step only when nothing has failed.
    if not any(function in condition for function in STATUS_FUNCTIONS):
        condition = "success() && (" + condition.strip().removeprefix("${{").removesuffix("}}") + ")"
    return bool(evaluate(condition, context, failed))


def substitute(value: str, context: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda match: str(evaluate(match.group(1), context, False)), value)


# -- running the job ----------------------------------------------------------------------------


@dataclass
class JobRun:
    outcomes: dict[str, str] = field(default_factory=dict)  # step name -> success/failure/skipped
    output: dict[str, str] = field(default_factory=dict)  # step name -> stdout and stderr
    not_run: dict[str, dict[str, Any]] = field(default_factory=dict)  # hosted steps, with their env
    summary: str = ""

    @property
    def failed(self) -> bool:
        return "failure" in self.outcomes.values()


def run_job(checkout: Path, event: str, head_repository: str = REPOSITORY) -> JobRun:
    """Run the workflow's job in `checkout` for a `pull_request` or `push` event."""
    summary = checkout.parent / "step-summary.md"
    summary.write_text("")
    context: dict[str, Any] = {
        "github.event_name": event,
        "github.base_ref": "main" if event == "pull_request" else "",
        "github.repository": REPOSITORY,
        "github.token": "not-a-token",
        "github.event.pull_request.number": 7 if event == "pull_request" else "",
        "github.event.pull_request.head.repo.full_name": head_repository if event == "pull_request" else "",
    }
    job = JobRun()
    for step in workflow_steps():
        name = step.get("name") or step["uses"]
        if not step_condition(step, context, job.failed):
            job.outcomes[name] = "skipped"
            outcome = "skipped"
        else:
            environment = {key: substitute(str(value), context) for key, value in step.get("env", {}).items()}
            run = step.get("run", "")
            if step.get("uses", "").startswith(HOSTED_ACTIONS) or run.startswith(("pip install", "gh ")):
                job.not_run[name] = {"run": run, "with": step.get("with", {}), **environment}
                outcome = "success"
            else:
                assert "uses" not in step, f"step {name!r} uses an action this test does not know"
                outcome = run_script(job, name, run, environment, checkout, summary)
            job.outcomes[name] = outcome
        if "id" in step:
            context[f"steps.{step['id']}.outcome"] = outcome
    job.summary = summary.read_text()
    return job


def run_script(job: JobRun, name: str, script: str, environment: dict[str, str], checkout: Path,
               summary: Path) -> str:
    env = dict(shell_environment(checkout.parent / "bin"), **environment, GITHUB_STEP_SUMMARY=str(summary))
    # The shell GitHub Actions uses for `run` on Linux.
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=checkout,
                            env=env, capture_output=True, text=True, check=False)
    job.output[name] = result.stdout + result.stderr
    return "success" if result.returncode == 0 else "failure"


# -- a policy repository ------------------------------------------------------------------------


def policy_repository(root: Path) -> Path:
    """A policy repository on `main` (the default policies, their tests, recent items and the
    workflow), cloned as CI checks it out, on a new branch `change`."""
    origin = root / "origin"
    shutil.copytree(POLICIES, origin / "policies")
    (origin / "items").mkdir()
    shutil.copy(ITEMS, origin / "items" / "recent.jsonl")
    (origin / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, origin / ".github" / "workflows" / "policies.yml")
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "Policies as agreed")
    checkout = root / "checkout"
    git(root, "clone", "-q", str(origin), str(checkout))
    git(checkout, "checkout", "-q", "-b", "change")
    return checkout


def commit_policy(checkout: Path, text: str, message: str) -> None:
    (checkout / "policies" / "demand-intake.yaml").write_text(text)
    git(checkout, "commit", "-q", "-am", message)


def lowered_threshold(checkout: Path) -> str:
    """demand-intake with a high-criticality service an initiative after 3 recurrences, not 5:
    a change no agreed case contradicts."""
    text = (checkout / "policies" / "demand-intake.yaml").read_text()
    assert text.count("recurrence_90d >= 5") == 1
    return text.replace("recurrence_90d >= 5", "recurrence_90d >= 3").replace('version: "2026.11"', 'version: "2026.12"')


def changed_outcomes(old_policy: Path, new_policy: Path, items: Path) -> int:
    """How many items the two policies classify differently, decided directly."""
    old, new = load(str(old_policy)), load(str(new_policy))
    lines = [json.loads(line) for line in items.read_text().splitlines() if line.strip()]
    return sum(old.classify(item).verdict.outcome != new.classify(item).verdict.outcome for item in lines)


def junit_totals(path: Path) -> tuple[int, int]:
    text = path.read_text()
    tests = int(re.search(r'<testsuites[^>]* tests="(\d+)"', text).group(1))
    failures = int(re.search(r'<testsuites[^>]* failures="(\d+)"', text).group(1))
    return tests, failures


# -- the workflow, step by step -----------------------------------------------------------------


def test_the_workflow_installs_rulebook_with_the_solver_and_fetches_the_history_the_diff_reads() -> None:
    steps = {step.get("name") or step["uses"]: step for step in workflow_steps()}
    checkout = next(step for step in steps.values() if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    install = steps["Install Rulebook"]
    assert install["run"] == 'pip install "$RULEBOOK"' and install["env"]["RULEBOOK"].startswith("rulebook[lint] @ ")
    upload = steps["Keep the test results"]
    assert upload["with"]["path"] == "policy-tests.xml" and "--junit policy-tests.xml" in steps["Test"]["run"]


def test_a_pull_request_the_agreed_cases_accept_passes_and_posts_its_diff(tmp_path: Path) -> None:
    checkout = policy_repository(tmp_path)
    commit_policy(checkout, lowered_threshold(checkout), "Recurring failures of important services sooner")

    job = run_job(checkout, "pull_request")

    assert not job.failed, job.output
    assert [name for name, outcome in job.outcomes.items() if outcome == "skipped"] == []
    diff = (checkout / "policy-diff.md").read_text()
    changed = changed_outcomes(tmp_path / "origin" / "policies", checkout / "policies", checkout / "items" / "recent.jsonl")
    assert changed > 0
    assert diff.startswith("## Policy diff: demand-intake 2026.11 → 2026.12\n")
    assert f"**{changed} of 48 items" in diff
    assert "`origin/main:policies/demand-intake.yaml`" in diff and "`policies/demand-intake.yaml`" in diff
    assert job.summary == diff  # the run's summary page shows the same report
    comment = job.not_run["Post the diff on the pull request"]
    assert comment["PR_NUMBER"] == "7" and "--body-file policy-diff.md" in comment["run"]
    assert junit_totals(checkout / "policy-tests.xml") == (35, 0)
    assert "35 passed, 0 failed" in job.output["Test"]


def test_a_pull_request_that_breaks_an_agreed_case_fails_and_still_posts_its_diff(tmp_path: Path) -> None:
    checkout = policy_repository(tmp_path)
    commit_policy(checkout, (ROOT / "examples" / "demand-intake-next.yaml").read_text(), "Next version")

    job = run_job(checkout, "pull_request")

    assert job.failed
    assert job.outcomes["Validate"] == job.outcomes["Lint"] == "success"
    assert job.outcomes["Test"] == "failure"
    assert "33 passed, 2 failed" in job.output["Test"]
    assert "FAIL policies/tests/demand-intake.yaml:61: an incident back for the third time" in job.output["Test"]
    assert "FAIL: coverage 88.4% is below the required 100% (--min-coverage)" in job.output["Test"]
    assert junit_totals(checkout / "policy-tests.xml") == (35, 2)
    # The reviewers still see what the change does to real items.
    assert job.outcomes["Diff against the base branch"] == "success"
    assert "Post the diff on the pull request" in job.not_run
    assert "**2 of 48 items (4.2%) change outcome**" in (checkout / "policy-diff.md").read_text()


def test_a_rule_that_can_never_fire_fails_the_lint(tmp_path: Path) -> None:
    checkout = policy_repository(tmp_path)
    text = (checkout / "policies" / "demand-intake.yaml").read_text()
    # A rule after 'recurring-high-criticality' that only matches what it already decides.
    dead_rule = ("  - id: very-recurring-high-criticality\n"
                 "    outcome: initiative\n"
                 "    when: \"service_criticality == 'critical' and recurrence_90d >= 8\"\n"
                 "    because: A critical service failing this often is an initiative.\n")
    anchor = "  - id: cross-department-manual-effort\n"
    assert text.count(anchor) == 1
    commit_policy(checkout, text.replace(anchor, dead_rule + anchor), "A rule for very frequent failures")

    job = run_job(checkout, "pull_request")

    assert job.outcomes["Validate"] == "success" and job.outcomes["Lint"] == "failure"
    assert "rule 'very-recurring-high-criticality' can never fire" in job.output["Lint"]
    assert job.outcomes["Test"] == "skipped"
    assert job.outcomes["Diff against the base branch"] == "success"


def test_a_pull_request_from_a_fork_shows_its_diff_on_the_summary_page_only(tmp_path: Path) -> None:
    checkout = policy_repository(tmp_path)
    commit_policy(checkout, lowered_threshold(checkout), "Recurring failures of important services sooner")

    job = run_job(checkout, "pull_request", head_repository="someone/policies")

    assert not job.failed, job.output
    assert job.outcomes["Post the diff on the pull request"] == "skipped"
    assert job.summary.startswith("## Policy diff: demand-intake 2026.11 → 2026.12\n")


def test_a_push_to_main_validates_lints_and_tests_without_a_diff(tmp_path: Path) -> None:
    checkout = policy_repository(tmp_path)

    job = run_job(checkout, "push")

    assert not job.failed, job.output
    assert [job.outcomes[name] for name in ("Validate", "Lint", "Test")] == ["success"] * 3
    assert job.outcomes["Diff against the base branch"] == "skipped"
    assert job.outcomes["Post the diff on the pull request"] == "skipped"
    assert not (checkout / "policy-diff.md").exists() and job.summary == ""
