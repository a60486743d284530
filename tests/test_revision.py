"""Policy files at a git revision: read through git, never touching the working tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.revision import policy_at
from engine.validate import check_paths

from .conftest import policy_text

RULES = "- {id: recurring, outcome: process_improvement, when: 'recurrence_90d >= 3'}"
NEXT_RULES = "- {id: recurring, outcome: process_improvement, when: 'recurrence_90d >= 5'}"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def make_repo(root: Path) -> Path:
    """A repository with policies/demand.yaml and a README committed (tagged v1), then the
    threshold raised in the working tree, uncommitted."""
    repo = root / "repo"
    (repo / "policies").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "policies" / "demand.yaml").write_text(policy_text(RULES))
    (repo / "policies" / "notes.txt").write_text("not a policy\n")
    (repo / "README.md").write_text("policies\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "tag", "v1")
    (repo / "policies" / "demand.yaml").write_text(policy_text(NEXT_RULES))
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def test_the_folder_as_it_was_at_the_revision_under_ref_names(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    status = git(repo, "status", "--porcelain")
    with policy_at("v1", "policies") as checkout:
        assert checkout.label == "v1:policies"
        assert sorted(checkout.names.values()) == ["v1:policies/demand.yaml"]  # only the YAML files
        report = check_paths([checkout.path], checkout.names)
        (policy,) = report.policy_set.classifications
        assert policy.file == "v1:policies/demand.yaml"
        assert "recurrence_90d >= 3" in report.sources["v1:policies/demand.yaml"]
        folder = checkout.path
    assert not os.path.exists(folder)  # the copy is gone
    assert git(repo, "status", "--porcelain") == status == " M policies/demand.yaml\n"
    assert "recurrence_90d >= 5" in (repo / "policies" / "demand.yaml").read_text()


def test_a_file_from_a_subfolder_and_a_commit_id(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "policies")
    commit = git(repo, "rev-parse", "HEAD").strip()
    with policy_at(commit[:10], "demand.yaml") as checkout:
        assert list(checkout.names.values()) == [f"{commit[:10]}:policies/demand.yaml"]
        assert Path(checkout.path).read_text() == policy_text(RULES)


@pytest.mark.parametrize("ref, path, message", [
    ("nope", "policies", "unknown git revision 'nope'"),
    ("--output=x", "policies", "unknown git revision '--output=x'"),
    ("v1", "policies/other.yaml", "'policies/other.yaml' does not exist at 'v1'"),
])
def test_unknown_revisions_and_paths_are_usage_errors(repo: Path, monkeypatch: pytest.MonkeyPatch, ref: str,
                                                      path: str, message: str) -> None:
    monkeypatch.chdir(repo)
    (repo / "policies" / "other.yaml").write_text(policy_text(RULES))  # new, not committed
    with pytest.raises(UsageError, match=message):
        with policy_at(ref, path):
            pass


def test_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policies").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(UsageError, match="'policies' is not inside a git repository"):
        with policy_at("main", "policies"):
            pass


def test_a_symbolic_link_is_followed_within_the_repository(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # policies/current.yaml -> ../versions/v1.yaml: the old side reads what the link pointed at
    monkeypatch.chdir(repo)
    (repo / "versions").mkdir()
    (repo / "versions" / "v1.yaml").write_text(policy_text(RULES).replace("test-policy", "linked"))
    (repo / "policies" / "current.yaml").symlink_to("../versions/v1.yaml")
    (repo / "policies" / "shelf.yaml").symlink_to("../versions")  # a folder: passed over, as the loader does
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "linked")
    (repo / "versions" / "v1.yaml").write_text("changed since\n")
    for path in ["policies", "policies/current.yaml"]:
        with policy_at("HEAD", path) as checkout:
            report = check_paths([checkout.path], checkout.names)
            assert report.errors == []
            assert {p.file: p.name for p in report.policy_set.classifications if p.name == "linked"} == {
                "HEAD:policies/current.yaml": "linked"}, path
    (repo / "policies" / "shelf.yaml").unlink()  # a file now, in the working tree; a link to a folder at HEAD
    (repo / "policies" / "shelf.yaml").write_text(policy_text(RULES))
    with pytest.raises(UsageError, match="'HEAD:policies/shelf.yaml' is a symbolic link to a folder"), \
            policy_at("HEAD", "policies/shelf.yaml"):
        pass
    for target, message in [("/etc/hostname", "'/etc/hostname', outside the repository"),
                            ("../nowhere.yaml", "'nowhere.yaml', which does not exist at 'HEAD'")]:
        (repo / "policies" / "current.yaml").unlink()
        (repo / "policies" / "current.yaml").symlink_to(target)
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "broken")
        with pytest.raises(UsageError, match=f"'HEAD:policies/current.yaml' is a symbolic link to {message}"), \
                policy_at("HEAD", "policies"):
            pass
