"""Where the shipped default policies and published schemas are, installed or in a checkout.

`pip install .` places `policies/` and `schemas/` inside the package (see pyproject.toml);
in a source checkout they sit beside the package. Either way callers get a real path.
"""

from __future__ import annotations

import json
import os
from typing import Any

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _locate(installed: str, checkout: str) -> str:
    inside = os.path.join(_PACKAGE, installed)
    if os.path.isdir(inside):
        return inside
    return os.path.join(os.path.dirname(_PACKAGE), checkout)


def default_policy_path() -> str:
    """The folder of default policies that ships with Rulebook (relative when it is below the
    working directory, so explanations cite `policies/demand-intake.yaml`, not a long path)."""
    path = _locate("default_policies", "policies")
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files_in(folder: str) -> list[str]:
    """The YAML files under `folder`, recursively, in name order. Hidden files and folders (a
    leading '.') are skipped, so a policy repository's `.github/` does not count as policy."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return sorted(found)


def schema_path(name: str) -> str:
    """The path of a published JSON Schema, e.g. `policy.schema.json`."""
    return os.path.join(_locate("schemas", "schemas"), name)


def read_schema(name: str) -> dict[str, Any]:
    """A published JSON Schema, parsed."""
    with open(schema_path(name), encoding="utf-8") as handle:
        return json.load(handle)
