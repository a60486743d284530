"""Errors shared by every stage: source spans, diagnostics, and the exceptions that carry them.

A `Span` is attached when a policy is parsed and travels with every model object, so a
problem found by any later stage can be reported as `file:line:column` without that stage
knowing anything about YAML. Diagnostics are values (code, message, span, hint); stages
collect them and raise `PolicyError` once, with all of them. Formatting happens in
`render.py`, never where a problem is found.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ExitCode(enum.IntEnum):
    """Exit statuses of the `rulebook` command, documented in the README."""

    OK = 0
    FAILED = 1  # a policy is invalid or a check failed
    USAGE = 2  # the command line is wrong
    REJECTED = 3  # some items could not be decided


@dataclass(frozen=True, slots=True)
class Span:
    """A position in a source file; line and column are 1-based, columns count characters."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def short(self) -> str:
        """`file:line`, the form explanations use to cite a rule."""
        return f"{self.file}:{self.line}"

    def shifted(self, offset: int, length: int | None = None) -> Span:
        """The span `offset` characters further along the same line (inside a scalar)."""
        column = self.column + offset
        end = column + length if length is not None else None
        return Span(self.file, self.line, column, self.line if end is not None else None, end)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a policy: a stable code for tools, a message for people, a separate hint."""

    code: str
    message: str
    span: Span | None
    hint: str | None = None
    severity: str = "error"


class RulebookError(Exception):
    """Base of every error the engine raises on purpose."""


class PolicyError(RulebookError):
    """A policy set could not be loaded; carries every diagnostic found, in source order."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]):
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        text = f"{first.span}: {first.message}" if first and first.span else (first.message if first else "invalid policy")
        more = len(self.diagnostics) - 1
        if more > 0:
            text += f" (and {more} more {plural(more, 'error')})"
        super().__init__(text)

    @property
    def span(self) -> Span | None:
        """The location of the first problem, for callers that want one place to point at."""
        return self.diagnostics[0].span if self.diagnostics else None


class ItemError(RulebookError):
    """An item could not be decided: it is invalid for the policy or its evaluation failed."""

    def __init__(self, message: str, *, item_id: object = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.item_id = item_id
        self.line = line


class UsageError(RulebookError, ValueError):
    """The caller asked for something that cannot be done (no such policy, unknown format); a
    ValueError too, as Python's own errors for a bad argument are."""


class SeveralPolicies(UsageError):
    """The policy set holds several policies of the kind needed, and none was named."""

    def __init__(self, kind: str, names: list[str]):
        self.kind, self.names = kind, names
        super().__init__(f"{self.problem}; choose one with --name")

    @property
    def problem(self) -> str:
        return f"the policy set holds several {self.kind} policies ({', '.join(self.names)})"


def described(value: Any) -> str:
    """A value a caller gave where another was due, for the message that says so."""
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)) and not value:
        return "an empty list"
    return f"{type(value).__name__} {value!r}"[:80]


def expect_items(items: Any) -> Iterable[Any]:
    """`items`, where it is a batch of items: one item (a mapping), a text (a file's name, most
    likely) or no iterable at all is a `UsageError`, not one rejection per key or character."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise UsageError(f"expected items (a list or other iterable of them), not {described(items)}")
    return items


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`noun` in the form that goes with `count` ("1 error", "2 errors")."""
    if count == 1:
        return noun
    return plural_form or noun + "s"


def counted(count: int, noun: str, plural_form: str | None = None) -> str:
    """`count` followed by `noun` in the right form."""
    return f"{count} {plural(count, noun, plural_form)}"


def listed(names: Iterable[object], quoted: bool = True) -> str:
    """Names (quoted, unless not `quoted`) joined for a sentence: 'a', 'a' and 'b', 'a', 'b' and 'c'."""
    words = [f"'{name}'" if quoted else str(name) for name in names]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def did_you_mean(word: str, choices: object) -> str | None:
    """A "did you mean" hint naming the closest of `choices` to `word`, if any is close."""
    import difflib

    options = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in options}
        if str(word).lower() in lowered:
            close = [lowered[str(word).lower()]]
    return f"did you mean '{close[0]}'?" if close else None
