"""Policy files as they were at a Git revision, read through git itself.

`rulebook diff --base REF PATH` compares the policy at PATH in the working tree with the
same path at REF. The files are listed with `git ls-tree` and read with `git cat-file` (run
as subprocesses, so the working tree, the index and HEAD are never touched), then written
to a temporary folder, where the normal loader reads them. Each file is shown under the
name `REF:path/in/repository.yaml`, so diagnostics and reports point at the revision, not
at the temporary copy.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import UsageError
from .resources import YAML_SUFFIXES


@dataclass(frozen=True, slots=True)
class Checkout:
    """A policy path as it was at a revision: where its files now lie, and their shown names."""

    path: str  # the copy of the file or folder, inside a temporary folder
    names: dict[str, str]  # the copy of each file -> `REF:path` (what diagnostics and reports show)
    label: str  # `REF:path`, the copy as a whole


@contextmanager
def policy_at(ref: str, path: str) -> Iterator[Checkout]:
    """The policy file or folder `path` (as named in the working tree) as it was at `ref`,
    copied into a temporary folder for as long as the context lasts.

    Raises `UsageError` when git is missing, `path` is not in a git repository, `ref` is not
    a revision there, or `path` did not exist at `ref`."""
    if ref.startswith("-"):
        raise UsageError(f"unknown git revision '{ref}'")
    top, inside = _locate(path)
    found = _run(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise UsageError(f"unknown git revision '{ref}'")
    commit = found.stdout.decode().strip()
    listing = _git(top, "ls-tree", "-r", "-z", commit, "--", *([inside] if inside else []))
    blobs = []
    for entry in filter(None, os.fsdecode(listing).split("\0")):
        meta, _, name = entry.partition("\t")
        if meta.split()[1] == "blob":
            blobs.append(name)
    if not blobs:
        raise UsageError(f"'{path}' does not exist at '{ref}'")
    single = blobs == [inside]
    with tempfile.TemporaryDirectory(prefix="rulebook-") as folder:
        names: dict[str, str] = {}
        for name in blobs:
            if not single and not name.endswith(YAML_SUFFIXES):
                continue  # the loader reads only YAML files from a folder
            copy = os.path.join(folder, *name.split("/"))
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            with open(copy, "wb") as handle:
                handle.write(_git(top, "cat-file", "blob", f"{commit}:{name}"))
            names[os.path.normpath(copy)] = f"{ref}:{name}"
        root = os.path.join(folder, *inside.split("/")) if inside else folder
        if not single:
            os.makedirs(root, exist_ok=True)  # a folder without YAML files: the loader says so
        yield Checkout(root, names, f"{ref}:{inside}")


def _locate(path: str) -> tuple[str, str]:
    """(the repository's top folder, `path` relative to it with '/' separators)."""
    absolute = os.path.abspath(path)
    folder = absolute if os.path.isdir(absolute) else os.path.dirname(absolute)
    while not os.path.isdir(folder):  # a path deleted from the working tree
        folder = os.path.dirname(folder)
    top = _run(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError(f"'{path}' is not inside a git repository")
    prefix = os.fsdecode(_git(folder, "rev-parse", "--show-prefix")).strip()
    rest = os.path.relpath(absolute, folder)
    inside = prefix + ("" if rest == "." else rest.replace(os.sep, "/"))
    return os.fsdecode(top.stdout).strip(), inside.rstrip("/")


def _git(folder: str, *args: str) -> bytes:
    """The output of a git command run in `folder`; a `UsageError` with git's message if it fails."""
    done = _run(folder, *args)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed: {message[-1] if message else f'exit status {done.returncode}'}")
    return done.stdout


def _run(folder: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_LITERAL_PATHSPECS": "1"}
    try:
        return subprocess.run(["git", "-C", folder, *args], capture_output=True, check=False, env=environment)
    except FileNotFoundError:
        raise UsageError("git is not installed (--base reads the old policy through git)") from None
