"""The nouns of policy tests, as frozen data passed between stages: a test file, its cases and
what each case expects.

`validate_tests.py` builds them from checked `kind: tests` documents, each bound to the policy
set it tests; `testrun.py` runs them; `render_tests.py` reports on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import Span

if TYPE_CHECKING:
    from .api import Policy
    from .model import ClassificationPolicy, GatesPolicy


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a case expects; a part that is None (and `rule` unless `checks_rule`) is not checked."""

    outcome: Any = None  # an outcome name; a tuple of names under hit: collect
    rule: Any = None  # a rule id or None for the default; a tuple under hit: collect
    checks_rule: bool = False
    error: str | bool | None = None  # text the error contains, True: any error, False: no error
    result: str | None = None  # pass | fail | not_applicable
    unmet: tuple[str, ...] | None = None  # criterion names that hold the item back

    @property
    def expects_error(self) -> bool:
        return self.error is not None and self.error is not False

    def as_record(self) -> dict[str, Any]:
        """The parts that are checked, as JSON-ready data."""
        out: dict[str, Any] = {}
        if self.outcome is not None:
            out["outcome"] = list(self.outcome) if isinstance(self.outcome, tuple) else self.outcome
        if self.checks_rule:
            out["rule"] = list(self.rule) if isinstance(self.rule, tuple) else self.rule
        if self.result is not None:
            out["result"] = self.result
        if self.unmet is not None:
            out["unmet"] = list(self.unmet)
        if self.error is not None:
            out["error"] = self.error
        return out

    def describe(self) -> str:
        """In a few words: "outcome initiative, rule needs-funding", "an error containing 'x'"."""
        if self.expects_error:
            return "an error" if self.error is True else f"an error containing '{self.error}'"
        parts = []
        if self.outcome is not None:
            parts.append(f"outcome {shown(self.outcome)}")
        if self.checks_rule:
            parts.append(f"rule {shown(self.rule)}")
        if self.result is not None:
            parts.append(f"result {self.result}")
        if self.unmet is not None:
            parts.append(f"unmet {shown(self.unmet)}")
        return ", ".join(parts) or "no error"


def shown(value: Any) -> str:
    """A checked value in a few words: names bare, None as (default), lists in brackets."""
    if isinstance(value, tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return "(default)" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Case:
    """One agreed case: an item and what the tested policy set must make of it."""

    name: str
    item: dict[str, Any]
    expect: Expectation
    span: Span  # where the case starts in its test file
    gate: bool = False  # checked at its stage gate (else classified)
    to: str | None = None  # the stage a gate case moves to; None: the item's target or next stage
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TestFile:
    """A checked test file: its cases and the policy set they test."""

    __test__ = False  # not a pytest class

    name: str
    span: Span
    policy_paths: tuple[str, ...]  # as resolved from the test file's folder
    policy: Policy = field(compare=False, repr=False)
    cases: tuple[Case, ...]
    description: str | None = None
    # the policies the file tests, whose rules and criteria count for coverage: the
    # classification and the gates policy its `policy` (and `policy_name`) choose
    tested: tuple[ClassificationPolicy | GatesPolicy, ...] = ()

    @property
    def file(self) -> str:
        return self.span.file
