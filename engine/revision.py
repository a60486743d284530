"""Policy files as they were at a Git revision, read through git itself.

`rulebook diff --base REF PATH` compares the policy at PATH in the working tree with the
same path at REF. The files are listed with `git ls-tree` and read with `git cat-file` (run
as subprocesses, so the working tree, the index and HEAD are never touched), then written
to a temporary folder, where the normal loader reads them. Each file is shown under the
name `REF:path/in/repository.yaml`, so diagnostics and reports point at the revision, not
at the temporary copy. A symbolic link is followed within the repository, as the working
tree's is.
"""

from __future__ import annotations

import os
import posixpath
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
    blobs: list[tuple[str, str]] = []  # (path, mode)
    for entry in filter(None, os.fsdecode(listing).split("\0")):
        meta, _, name = entry.partition("\t")
        mode, kind = meta.split()[:2]
        if kind == "blob":
            blobs.append((name, mode))
    if not blobs:
        raise UsageError(f"'{path}' does not exist at '{ref}'")
    single = [name for name, _ in blobs] == [inside]
    with tempfile.TemporaryDirectory(prefix="rulebook-") as folder:
        names: dict[str, str] = {}
        for name, mode in blobs:
            if not single and not name.endswith(YAML_SUFFIXES):
                continue  # the loader reads only YAML files from a folder
            content = _content(top, ref, commit, name, mode)
            if content is None:  # a link to a folder, which a folder's listing passes over too
                if single:
                    raise UsageError(f"'{ref}:{name}' is a symbolic link to a folder; name the folder itself")
                continue
            copy = os.path.join(folder, *name.split("/"))
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            with open(copy, "wb") as handle:
                handle.write(content)
            names[os.path.normpath(copy)] = f"{ref}:{name}"
        root = os.path.join(folder, *inside.split("/")) if inside else folder
        if not single:
            os.makedirs(root, exist_ok=True)  # a folder without YAML files: the loader says so
        yield Checkout(root, names, f"{ref}:{inside}")


SYMLINK = "120000"  # git's mode for a symbolic link, whose blob is the path it points to
MAX_LINKS = 40  # links followed one after another, as the system's own limit does


def _content(top: str, ref: str, commit: str, name: str, mode: str) -> bytes | None:
    """The bytes of file `name` at `commit`, following symbolic links as the working tree does,
    within the repository (git keeps no copy of what lies outside it); None for a link to a
    folder."""
    shown = name
    for _ in range(MAX_LINKS):
        data = _git(top, "cat-file", "blob", f"{commit}:{name}")
        if mode != SYMLINK:
            return data
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), os.fsdecode(data)))
        if target == ".." or target.startswith("../") or posixpath.isabs(target):
            raise UsageError(f"'{ref}:{shown}' is a symbolic link to '{os.fsdecode(data)}', outside the repository, "
                             "which git keeps no copy of")
        entry = os.fsdecode(_git(top, "ls-tree", "-z", commit, "--", target)).split("\0")[0]
        if not entry:
            raise UsageError(f"'{ref}:{shown}' is a symbolic link to '{target}', which does not exist at '{ref}'")
        mode, kind = entry.partition("\t")[0].split()[:2]
        if kind != "blob":
            return None
        name = target
    raise UsageError(f"'{ref}:{shown}' is a symbolic link in a chain of more than {MAX_LINKS}")


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
