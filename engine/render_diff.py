"""Render a policy diff (`compare.PolicyDiff`) as a text report, as markdown for a pull request,
or as a JSON document (`schemas/diff.schema.json`). One function per format; all three say
the same things in the same order: the two policies, a one-line summary, the from -> to
table, the outcome counts, the rules whose firing counts changed, and the errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .compare import ErrorChange, Example, PolicyDiff, Transition
from .errors import counted
from .model import ClassificationPolicy, PolicyRef
from .render import markdown_code, markdown_text, table

ERROR_LABEL = "(error)"
DEFAULT_LABEL = "(default)"
CLIP = 60  # characters of an error message in the text report


# -- JSON -------------------------------------------------------------------------------------------


def diff_record(result: PolicyDiff) -> dict[str, Any]:
    """The diff as JSON-ready data; outcomes are text, a list under `collect`, or null for an
    error; a rule is null for the default."""
    share = _share(result.items)
    return {
        "old": _policy_record(result.old, result.old_ref),
        "new": _policy_record(result.new, result.new_ref),
        "items": result.items,
        "changed": result.changed,
        "changed_share": share(result.changed),
        "rule_changed": result.rule_changed,
        "transitions": [
            {"from": _json_outcome(t.old), "to": _json_outcome(t.new), "count": t.count, "share": share(t.count),
             "examples": [_example_record(e) for e in t.examples]}
            for t in result.transitions
        ],
        "unchanged": [{"outcome": _json_outcome(t.old), "count": t.count, "share": share(t.count)}
                      for t in result.unchanged],
        "outcomes": [{"outcome": o.outcome, "old": o.old, "new": o.new, "delta": o.delta} for o in result.outcomes],
        "rules": [{"rule": r.rule, "old": r.old, "new": r.new, "delta": r.delta, "status": r.status}
                  for r in result.rules],
        "errors": {
            "old": result.errors_old,
            "new": result.errors_new,
            "became": {"count": result.new_errors, "examples": [
                {**_example_record(e.item), "was": _json_outcome(e.other), "error": e.error}
                for e in result.new_error_examples]},
            "fixed": {"count": result.fixed_errors, "examples": [
                {**_example_record(e.item), "error": e.error, "now": _json_outcome(e.other)}
                for e in result.fixed_error_examples]},
            "both": {"count": result.still_errors, "examples": [
                {**_example_record(e.item), "error": e.error} for e in result.still_error_examples]},
        },
    }


def _policy_record(policy: ClassificationPolicy, ref: PolicyRef | None) -> dict[str, Any]:
    return {**(ref or policy.ref).as_record(), "file": policy.file}


def _example_record(example: Example) -> dict[str, Any]:
    return {"id": example.id, "line": example.line}


def _json_outcome(outcome: Any) -> Any:
    return list(outcome) if isinstance(outcome, tuple) else outcome


def _share(total: int) -> Callable[[int], float]:
    return lambda count: round(count / total, 6) if total else 0.0


# -- text and markdown --------------------------------------------------------------------------------


def diff_text(result: PolicyDiff, examples: bool = True) -> str:
    """The diff as plain text tables, for a terminal."""
    return _Report(result, markdown=False, examples=examples).render()


def diff_markdown(result: PolicyDiff, examples: bool = True) -> str:
    """The diff as GitHub-flavoured markdown, ready to paste into a pull request."""
    return _Report(result, markdown=True, examples=examples).render()


def summary(result: PolicyDiff, markdown: bool = False) -> str:
    """One sentence: how many items change outcome (in bold in markdown), and what else changed."""
    parts = _summary_parts(result)
    if markdown:
        parts[0] = f"**{parts[0]}**"
    return "; ".join(parts) + "."


def _summary_parts(result: PolicyDiff) -> list[str]:
    changed, items = result.changed, result.items
    if changed:
        verb = "changes" if changed == 1 else "change"
        head = f"{changed} of {counted(items, 'item')} ({percent(changed, items)}) {verb} outcome"
    else:
        head = f"No item changes outcome ({counted(items, 'item')})"
    parts = [head]
    if result.new_errors:
        parts.append(f"{result.new_errors} {'becomes an error' if result.new_errors == 1 else 'become errors'}")
    if result.fixed_errors:
        parts.append(f"{counted(result.fixed_errors, 'error')} {'is' if result.fixed_errors == 1 else 'are'} fixed")
    if result.rule_changed:
        keeps = "keeps its" if result.rule_changed == 1 else "keep their"
        parts.append(f"{result.rule_changed} more {keeps} outcome under another rule")
    if result.still_errors:
        parts.append(f"{result.still_errors} {'is an error' if result.still_errors == 1 else 'are errors'} under both")
    return parts


def percent(count: int, total: int) -> str:
    """A share for people: one decimal, never 0.0% for something that happened nor 100.0% for
    something that did not happen to all."""
    if not total:
        return "0%"
    value = 100 * count / total
    if 0 < value < 0.05:
        return "<0.1%"
    if count < total and value >= 99.95:
        return ">99.9%"
    return f"{value:.1f}%"


def outcome_label(outcome: Any) -> str:
    if outcome is None:
        return ERROR_LABEL
    if isinstance(outcome, tuple):
        return "[" + ", ".join(outcome) + "]"
    return str(outcome)


def _delta(value: int) -> str:
    return f"{value:+d}" if value else "0"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class _Report:
    """The sections of the text and markdown reports; only the markup differs."""

    def __init__(self, result: PolicyDiff, markdown: bool, examples: bool):
        self.result = result
        self.markdown = markdown
        self.examples = examples

    def render(self) -> str:
        result = self.result
        blocks = [self.title(), self.policies(), summary(result, self.markdown)]
        if result.same_policy:
            blocks.append("Both policies have the same content, so no decision can differ.")
        if result.transitions:
            blocks += self.section("Changed outcomes", self.transitions())
            blocks += self.section("Outcome counts", self.outcomes())
        if result.rules:
            blocks += self.section("Rules whose firing counts changed", self.rules())
        blocks += self.errors("Items that became errors", result.new_errors, result.new_error_examples,
                              ("id", "line", "was", "error"), lambda e: [outcome_label(e.other), e.error])
        blocks += self.errors("Errors that were fixed", result.fixed_errors, result.fixed_error_examples,
                              ("id", "line", "error", "now"), lambda e: [e.error, outcome_label(e.other)])
        blocks += self.errors("Errors under both policies", result.still_errors, result.still_error_examples,
                              ("id", "line", "error"), lambda e: [e.error])
        return "\n\n".join(blocks) + "\n"

    # -- pieces

    def title(self) -> str:
        old, new = self.result.old, self.result.new
        arrow = "→" if self.markdown else "->"
        if old.name == new.name:
            text = f"{old.name} {old.version or '(no version)'} {arrow} {new.version or '(no version)'}"
        else:
            text = f"{_named(old)} {arrow} {_named(new)}"
        return f"## Policy diff: {text}" if self.markdown else f"Policy diff: {text}"

    def policies(self) -> str:
        result = self.result
        sides = (("old", result.old, result.old_ref), ("new", result.new, result.new_ref))
        # the as-of date days_since() counted to, where a policy calls it
        dates = [ref.as_of.isoformat() if ref is not None and ref.as_of is not None else "" for _, _, ref in sides]
        dated = any(dates)
        if self.markdown:
            rows = [[side, _named(policy), markdown_code(policy.file), f"`{policy.sha256}`", *([date] if dated else [])]
                    for (side, policy, _), date in zip(sides, dates)]
            return table(rows, ("", "policy", "file", "sha256", *(["as of"] if dated else [])), markdown=True)
        rows = [[f"{side}:", _named(policy), policy.file, f"sha256 {policy.sha256}", f"as of {date}" if date else ""]
                for (side, policy, _), date in zip(sides, dates)]
        return "\n".join("  ".join(row).rstrip() for row in _padded(rows))

    def section(self, heading: str, body: str) -> list[str]:
        return [f"### {heading}\n\n{body}" if self.markdown else f"{heading}:\n{body}"]

    def transitions(self) -> str:
        result = self.result
        headers = ["from", "to", "items", "share"]
        align = ["left", "left", "right", "right"]
        if self.examples:
            headers.append("examples")
            align.append("left")
        rows = []
        for transition in result.transitions:
            row = [outcome_label(transition.old), outcome_label(transition.new), str(transition.count),
                   percent(transition.count, result.items)]
            if self.examples:
                row.append(self.example_list(transition))
            rows.append(row)
        return self.table(rows, headers, align)

    def example_list(self, transition: Transition) -> str:
        names = [_example_label(example) for example in transition.examples]
        if transition.count > len(names):
            names.append("...")
        return ", ".join(names)

    def outcomes(self) -> str:
        result = self.result
        rows = [[o.outcome, str(o.old), str(o.new), _delta(o.delta)] for o in result.outcomes]
        if result.errors_old or result.errors_new:
            rows.append([ERROR_LABEL, str(result.errors_old), str(result.errors_new),
                         _delta(result.errors_new - result.errors_old)])
        return self.table(rows, ("outcome", "old", "new", "change"), ("left", "right", "right", "right"))

    def rules(self) -> str:
        rows = [[rule.rule if rule.rule is not None else DEFAULT_LABEL, _count(rule.old), _count(rule.new),
                 _delta(rule.delta), rule.status] for rule in self.result.rules]
        return self.table(rows, ("rule", "old", "new", "change", "status"), ("left", "right", "right", "right", "left"))

    def errors(self, heading: str, count: int, examples: tuple[ErrorChange, ...], headers: tuple[str, ...],
               cells: Any) -> list[str]:
        if not count:
            return []
        rows = [[_cell(example.item.id), _cell(example.item.line), *map(self.message, cells(example))]
                for example in examples]
        align = ["left", "right"] + ["left"] * (len(headers) - 2)
        body = self.table(rows, headers, align) if self.examples and rows else ""
        shown = f" (the first {len(rows)})" if body and count > len(rows) else ""
        if self.markdown:
            text = f"### {heading}: {count}"
            if body:
                text += f"\n\n<details><summary>Examples{shown}</summary>\n\n{body}\n\n</details>"
            return [text]
        return [f"{heading}: {count}{shown}" + (f"\n{body}" if body else "")]

    # -- markup

    def table(self, rows: list[list[str]], headers: Any, align: Any) -> str:
        if self.markdown:
            rows = [[markdown_text(cell) for cell in row] for row in rows]
        return table(rows, headers, markdown=self.markdown, align=align)

    def message(self, text: str) -> str:
        text = " ".join(text.split())
        if self.markdown or len(text) <= CLIP:
            return text
        return text[: CLIP - 3] + "..."


def _named(policy: ClassificationPolicy) -> str:
    return f"{policy.name} {policy.version}" if policy.version else policy.name


def _example_label(example: Example) -> str:
    if example.id is None:
        return f"line {example.line}" if example.line is not None else "?"
    return str(example.id)


def _padded(rows: list[list[str]]) -> list[list[str]]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [[cell.ljust(width) for cell, width in zip(row, widths)] for row in rows]
