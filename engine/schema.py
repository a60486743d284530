"""Structure check: a policy document's data against the published JSON Schema.

The schema in `schemas/policy.schema.json` is the contract editors use for completion; this
module interprets the JSON Schema 2020-12 keywords that schema uses, so the engine checks
exactly that file. Each keyword is a small generator that only yields problems relative to
the value it is given; `SchemaChecker` adds the paths and collects every problem instead of
stopping at the first. (The `jsonschema` package is held against this module in the tests;
it is not imported here because its import alone costs more than a classify run's start-up.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

from .errors import did_you_mean

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """A structural problem at `path`; `at_key` points it at the key rather than the value."""

    path: Path
    code: str
    message: str
    hint: str | None = None
    at_key: bool = False


TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}

# keywords that only annotate; the checker knows them so an unknown keyword is a bug it can see
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "title", "description", "default", "examples", "x-hint"}
)


def json_type(value: Any) -> str:
    """The JSON type name of a Python value produced by the loader."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    actual = json_type(value)
    return actual == name or (name == "number" and actual == "integer")


def describe(value: Any) -> str:
    """A short description of a value for messages: "text 'abc'", "a list", "true"."""
    kind = json_type(value)
    if kind == "string":
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text '{shown}'"
    if kind in ("integer", "number"):
        return f"the number {value}"
    if kind == "boolean":
        return "true" if value else "false"
    return TYPE_WORDS.get(kind, kind)


def subject(path: Path) -> str:
    """How a message names the value at `path`: its key, or its position in a list."""
    for i in range(len(path) - 1, -1, -1):
        part = path[i]
        if isinstance(part, str):
            trail = len(path) - 1 - i
            if trail == 0:
                return f"'{part}'"
            return f"item {path[-1] + 1} of '{part}'" if trail == 1 else f"an item of '{part}'"
    return "the document"


def _hint(schema: dict[str, Any]) -> str | None:
    return schema.get("x-hint")


class SchemaChecker:
    """Checks data against a JSON Schema (the subset of 2020-12 that the policy schema uses)."""

    def __init__(self, schema: dict[str, Any]):
        self.root = schema
        self.keywords: dict[str, Callable[..., Iterator[SchemaProblem]]] = {
            "type": self._type,
            "enum": self._enum,
            "const": self._const,
            "properties": self._properties,
            "additionalProperties": self._additional_properties,
            "propertyNames": self._property_names,
            "required": self._required,
            "minProperties": self._min_properties,
            "maxProperties": self._max_properties,
            "items": self._items,
            "minItems": self._min_items,
            "minimum": self._minimum,
            "maximum": self._maximum,
            "minLength": self._min_length,
            "pattern": self._pattern,
            "$ref": self._ref,
            "allOf": self._all_of,
            "anyOf": self._any_of,
            "oneOf": self._one_of,
            "if": self._if,
            "then": self._nothing,
            "else": self._nothing,
        }
        self._patterns: dict[str, re.Pattern[str]] = {}

    def problems(self, instance: Any) -> list[SchemaProblem]:
        """Every structural problem of `instance`, in document order."""
        return list(self.check(self.root, instance, ()))

    def is_valid(self, instance: Any, schema: dict[str, Any] | None = None) -> bool:
        return next(iter(self.check(self.root if schema is None else schema, instance, ())), None) is None

    def check(self, schema: dict[str, Any] | bool, instance: Any, path: Path) -> Iterator[SchemaProblem]:
        if schema is True:
            return
        if schema is False:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} is not allowed here")
            return
        for keyword, value in schema.items():
            check = self.keywords.get(keyword)
            if check is not None:
                yield from check(value, instance, schema, path)
            elif keyword not in ANNOTATIONS:
                raise ValueError(f"schema keyword '{keyword}' is not supported by the policy checker")

    # -- keywords ---------------------------------------------------------------------------

    def _nothing(self, value: Any, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        return iter(())

    def _type(self, value: str | list[str], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        names = [value] if isinstance(value, str) else value
        if not any(_is_type(instance, name) for name in names):
            expected = " or ".join(TYPE_WORDS[n] for n in names)
            yield SchemaProblem(path, "wrong-type", f"{subject(path)} must be {expected}, not {describe(instance)}")

    def _enum(self, value: list[Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if not any(json_equal(instance, option) for option in value):
            options = ", ".join(f"'{o}'" for o in value)
            hint = did_you_mean(instance, value) if isinstance(instance, str) else None
            # no enum here lists mappings or lists: one given is the wrong kind of value, which
            # lets an alternative form (`{type: ...}` for a type name) be the one reported
            code = "wrong-type" if isinstance(instance, (dict, list)) else "invalid-value"
            yield SchemaProblem(
                path, code, f"{subject(path)} must be one of {options}, not {describe(instance)}", hint or _hint(schema)
            )

    def _const(self, value: Any, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if not json_equal(instance, value):
            yield SchemaProblem(
                path, "invalid-value", f"{subject(path)} must be {value!r}, not {describe(instance)}", _hint(schema)
            )

    def _properties(self, value: dict[str, Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, dict):
            for key, subschema in value.items():
                if key in instance:
                    yield from self.check(subschema, instance[key], path + (key,))

    def _additional_properties(self, value: Any, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if not isinstance(instance, dict):
            return
        known = schema.get("properties", {})
        for key in instance:
            if key in known:
                continue
            if value is False:
                hint = did_you_mean(key, known) or (
                    "allowed here: " + ", ".join(f"'{k}'" for k in known) if known else None
                )
                yield SchemaProblem(path + (key,), "unknown-key", f"unknown key '{key}'", hint, at_key=True)
            else:
                yield from self.check(value, instance[key], path + (key,))

    def _property_names(self, value: dict[str, Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if not isinstance(instance, dict):
            return
        for key in instance:
            for problem in self.check(value, key, ()):
                yield SchemaProblem(
                    path + (key,), "invalid-name", f"'{key}' is not a valid name", problem.hint, at_key=True
                )
                break

    def _required(self, value: list[str], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, dict):
            for key in value:
                if key not in instance:
                    where = f" in {subject(path)}" if path else ""
                    yield SchemaProblem(path, "missing-key", f"missing required key '{key}'{where}", None)

    def _min_properties(self, value: int, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, dict) and len(instance) < value:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} must have at least {value} {_entries(value)}")

    def _max_properties(self, value: int, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, dict) and len(instance) > value:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} must have at most {value} {_entries(value)}")

    def _items(self, value: dict[str, Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, list):
            for index, item in enumerate(instance):
                yield from self.check(value, item, path + (index,))

    def _min_items(self, value: int, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, list) and len(instance) < value:
            noun = "item" if value == 1 else "items"
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} must have at least {value} {noun}")

    def _minimum(self, value: float, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if _is_type(instance, "number") and instance < value:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} must be at least {value}, not {instance}")

    def _maximum(self, value: float, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if _is_type(instance, "number") and instance > value:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} must be at most {value}, not {instance}")

    def _min_length(self, value: int, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, str) and len(instance) < value:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} must not be empty", _hint(schema))

    def _pattern(self, value: str, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if isinstance(instance, str) and instance:
            compiled = self._patterns.get(value)
            if compiled is None:
                compiled = self._patterns[value] = re.compile(value)
            if not compiled.search(instance):
                yield SchemaProblem(path, "invalid-value", f"'{instance}' is not a valid name", _hint(schema))

    def _ref(self, value: str, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        yield from self.check(self.resolve(value), instance, path)

    def _all_of(self, value: list[Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        for subschema in value:
            yield from self.check(subschema, instance, path)

    def _any_of(self, value: list[Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        branches = [list(self.check(subschema, instance, path)) for subschema in value]
        if all(branches):
            yield from self._best_branch(branches, instance, path)

    def _one_of(self, value: list[Any], instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        branches = [list(self.check(subschema, instance, path)) for subschema in value]
        passing = sum(1 for problems in branches if not problems)
        if passing == 0:
            yield from self._best_branch(branches, instance, path)
        elif passing > 1:
            yield SchemaProblem(path, "invalid-value", f"{subject(path)} is ambiguous: it fits more than one form")

    def _if(self, value: Any, instance: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if self.is_valid(instance, value):
            if "then" in schema:
                yield from self.check(schema["then"], instance, path)
        elif "else" in schema:
            yield from self.check(schema["else"], instance, path)

    # -- helpers ----------------------------------------------------------------------------

    def resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not '{ref}'")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _best_branch(self, branches: list[list[SchemaProblem]], instance: Any, path: Path) -> Iterator[SchemaProblem]:
        """Report the branch the author most likely meant: one that accepted the value's type."""
        fitting = [b for b in branches if not any(p.code == "wrong-type" and p.path == path for p in b)]
        if not fitting:
            expected = []
            for problems in branches:
                for problem in problems:
                    if problem.code == "wrong-type" and problem.path == path:
                        words = problem.message.split(" must be ", 1)[1].rsplit(", not ", 1)[0]
                        for word in words.split(" or "):
                            if word not in expected:
                                expected.append(word)
            yield SchemaProblem(
                path, "wrong-type", f"{subject(path)} must be {' or '.join(expected)}, not {describe(instance)}"
            )
            return
        # the branch whose problems sit deepest matched the most structure
        best = max(fitting, key=lambda problems: (min(len(p.path) for p in problems), -len(problems)))
        yield from best


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality, as enum and const use it: true is not 1, and 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


_CHECKER: SchemaChecker | None = None


def policy_checker() -> SchemaChecker:
    """The checker for the published policy schema (read once per process)."""
    global _CHECKER
    if _CHECKER is None:
        from .resources import read_schema

        _CHECKER = SchemaChecker(read_schema("policy.schema.json"))
    return _CHECKER
