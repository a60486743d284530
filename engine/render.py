"""Render stage: decisions, gate results and rejections -> output records (JSONL, JSON, CSV,
table); diagnostics -> text.

A record's fields and their order are the published contract (`schemas/decision.schema.json`,
`schemas/gate.schema.json`).
One writer per format, each taking records one at a time; all but the table stream.
Diagnostics are formatted here and only here: `FILE:LINE:COLUMN: error: MESSAGE`, the
offending line with the span underlined, then the hint.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from .errors import Diagnostic
from .evaluate import Decision, Rejection
from .jsonio import Raw

if TYPE_CHECKING:
    from .gates import Criterion, GateResult

OUTPUT_FORMATS = ("jsonl", "json", "csv", "table")
CSV_COLUMNS = ("id", "line", "outcome", "rule", "because", "error", "policy", "policy_version", "policy_sha256")


def json_dumps() -> Any:
    """A function value -> compact JSON bytes, the same bytes on every run."""
    from .jsonio import encode_record

    return encode_record


def record(result: Decision | Rejection, explain: bool = False, encoded_trace: bool = False) -> dict[str, Any]:
    """The output record of a decision or rejection, as JSON-ready data; with `encoded_trace`,
    its trace is already JSON, which the writers' encoder writes as it is (much faster)."""
    if isinstance(result, Rejection):
        out: dict[str, Any] = {"id": result.item_id, "line": result.line, "error": result.error}
        if result.policy is not None:
            out["policy"] = result.policy.as_record()
        return out
    verdict = result.verdict
    out = {"id": result.item_id}
    if verdict.collect:
        out["outcome"] = list(verdict.outcome)
        out["rule"] = list(verdict.rule)
        out["because"] = list(verdict.because)
        out["outcomes"] = out["outcome"]
        out["rules"] = out["rule"]
    else:
        out["outcome"] = verdict.outcome
        out["rule"] = verdict.rule
        out["because"] = verdict.because
    out["policy"] = result.policy.as_record()
    if explain:
        from . import explain as explained

        if encoded_trace:
            out["trace"] = Raw(explained.decision_trace_json(result))
        else:
            out["trace"] = explained.decision_trace_record(result)
    return out


class Writer:
    """Writes output records to a binary stream in one format."""

    def __init__(self, out: IO[bytes]):
        self.out = out

    def write(self, rec: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.out.flush()


class JsonlWriter(Writer):
    def __init__(self, out: IO[bytes]):
        super().__init__(out)
        self.dumps = json_dumps()

    def write(self, rec: dict[str, Any]) -> None:
        self.out.write(self.dumps(rec) + b"\n")


class JsonWriter(Writer):
    """A JSON array, written as records arrive (one record per line)."""

    def __init__(self, out: IO[bytes]):
        super().__init__(out)
        self.dumps = json_dumps()
        self.count = 0

    def write(self, rec: dict[str, Any]) -> None:
        self.out.write((b"[\n" if self.count == 0 else b",\n") + self.dumps(rec))
        self.count += 1

    def close(self) -> None:
        self.out.write(b"[]\n" if self.count == 0 else b"\n]\n")
        super().close()


class CsvWriter(Writer):
    columns = CSV_COLUMNS

    def __init__(self, out: IO[bytes], explain: bool = False, dated: bool = False):
        super().__init__(out)
        import csv

        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        # Python 3.11's writer leaves a carriage return unquoted where rows end with LF alone,
        # which splits the row for any reader: a row holding one is quoted whole, on every Python
        self.quoting_all = csv.writer(self.buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        # the as-of date days_since() counted to, for a policy that calls it
        self.columns = self.columns + (("policy_as_of",) if dated else ()) + (("trace",) if explain else ())
        self.dumps = json_dumps()
        self.writer.writerow(self.columns)
        self.flush_buffer()

    def flush_buffer(self) -> None:
        self.out.write(self.buffer.getvalue().encode("utf-8"))
        self.buffer.seek(0)
        self.buffer.truncate()

    def write(self, rec: dict[str, Any]) -> None:
        policy = rec.get("policy") or {}
        row = {
            **self.row(rec),
            "error": rec.get("error"),
            "policy": policy.get("name"),
            "policy_version": policy.get("version"),
            "policy_sha256": policy.get("sha256"),
            "policy_as_of": policy.get("as_of"),
            "trace": self.dumps(rec["trace"]).decode("utf-8") if "trace" in rec else None,
        }
        cells = [csv_cell(row.get(column)) for column in self.columns]
        (self.quoting_all if any("\r" in text for text in cells) else self.writer).writerow(cells)
        self.flush_buffer()

    def row(self, rec: dict[str, Any]) -> dict[str, Any]:
        """The record's own cells (those after `line` and before `error`)."""
        return {
            "id": rec.get("id"),
            "line": rec.get("line"),
            "outcome": rec.get("outcome"),
            "rule": rec.get("rule"),
            "because": rec.get("because"),
        }


def cell(value: Any) -> str:
    """A value as one CSV or table cell: lists joined with '; ', nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(cell(v) for v in value)
    if isinstance(value, dict):  # an id that is a JSON object: shown as JSON, not as Python writes it
        from .jsonio import encode_record

        return encode_record(value).decode("utf-8")
    return str(value)


# what a spreadsheet reads as the start of a formula in a cell
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """`cell(value)` for CSV: a text a spreadsheet would run as a formula (an item's id
    `=HYPERLINK(...)`; items are untrusted) gets a leading apostrophe, which spreadsheets show as
    text; numbers (`-5`) are left as they are."""
    text = cell(value)
    if text.startswith(_FORMULA_STARTS):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


class TableWriter(Writer):
    """A table for people at a terminal; it needs every row to size the columns."""

    headers = ("id", "outcome", "rule", "because")

    def __init__(self, out: IO[bytes], width: int = 60):
        super().__init__(out)
        self.rows: list[list[str]] = []
        self.width = width

    def write(self, rec: dict[str, Any]) -> None:
        if "error" in rec:
            reason = f"error (line {rec.get('line')}): {rec['error']}"
            self.rows.append([cell(rec.get("id")), "REJECTED", *[""] * (len(self.headers) - 3), self.clip(reason)])
        else:
            self.rows.append(self.row(rec))

    def row(self, rec: dict[str, Any]) -> list[str]:
        return [cell(rec.get("id")), cell(rec.get("outcome")), cell(rec.get("rule")) or "(default)",
                self.clip(cell(rec.get("because")))]

    def clip(self, text: str) -> str:
        return text if len(text) <= self.width else text[: self.width - 3] + "..."

    def close(self) -> None:
        if self.rows:
            self.out.write(table(self.rows, self.headers).encode("utf-8") + b"\n")
        super().close()


def table(rows: Iterable[Iterable[Any]], headers: Iterable[str], markdown: bool = False,
          align: Iterable[str] | None = None) -> str:
    """Rows as a plain text table, or as a GitHub-flavoured markdown table. `align` gives each
    column's alignment ("left", "right"); cells are then shown exactly as given, never read
    as numbers."""
    from tabulate import tabulate

    colalign = tuple(align) if align is not None else None
    shown = [[visible(value) if isinstance(value, str) else value for value in row] for row in rows]
    return tabulate(shown, headers=list(headers), tablefmt="pipe" if markdown else "simple",
                    colalign=colalign, disable_numparse=colalign is not None)


# Items are untrusted: a value printed to a terminal as it is could move the cursor, clear the
# screen, break a row in two or reverse the text after it (escape sequences, control and
# bidirectional formatting characters). A table shows them escaped, as Python writes them.
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPED.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_ESCAPED.update({code: f"\\u{code:04x}" for code in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def visible(text: str) -> str:
    """`text` with control and bidirectional formatting characters escaped (`\\x1b`, `\\n`, `\\u202e`)."""
    return text.translate(_ESCAPED)


# Item values in markdown (a pull-request comment, an audit note) must show as written: an id
# `<b>x</b>` or `*x*` would otherwise be read as markup, and `</details>` would close a fold.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|&~]|(?<!\w)_|_(?!\w)")


def markdown_text(text: str) -> str:
    """`text` with the characters markdown would read as markup escaped by a backslash (an
    underscore only where it could start or end emphasis, so `field_name` stays as it is)."""
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(), text)


def markdown_code(text: str) -> str:
    """`text` as a markdown code span, fenced by more backticks than it holds in a row."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def writer_for(fmt: str, out: IO[bytes], explain: bool = False, kind: str = "decision", dated: bool = False) -> Writer:
    """The writer for output format `fmt`, for records of `kind` ("decision" or "gate");
    `dated`: the records name the as-of date of a policy that calls days_since()."""
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt == "json":
        return JsonWriter(out)
    if fmt == "csv":
        return (GateCsvWriter if kind == "gate" else CsvWriter)(out, explain, dated)
    if fmt == "table":
        return (GateTableWriter if kind == "gate" else TableWriter)(out)
    raise ValueError(f"unknown output format '{fmt}'")


# -- gate results -----------------------------------------------------------------------------------

GATE_CSV_COLUMNS = ("id", "line", "stage", "target", "result", "held_by", "outcome", "criteria", "error", "policy",
                    "policy_version", "policy_sha256")


def gate_record(result: GateResult | Rejection, explain: bool = False) -> dict[str, Any]:
    """The output record of a gate result (`schemas/gate.schema.json`) or of a rejection."""
    if isinstance(result, Rejection):
        return record(result)
    from .explain_gates import gate_trace_record, trace_inputs_record

    applies_to = None
    if result.applies_to is not None:
        applies_to = {
            "text": result.applies_to.condition.as_expression(),
            "result": result.applies_to.result,
            "inputs": trace_inputs_record(result.applies_to),
        }
    out: dict[str, Any] = {
        "id": result.item_id,
        "stage": result.stage,
        "target": result.target,
        "result": result.result,
        "criteria": [criterion_record(criterion) for criterion in result.criteria],
        "applies_to": applies_to,
        "outcome": result.outcome.as_record() if result.outcome is not None else None,
        "policy": result.policy.as_record(),
    }
    if explain:
        out["trace"] = gate_trace_record(result)
    return out


def criterion_record(criterion: Criterion) -> dict[str, Any]:
    from .gates import ApprovalCheck, ConditionCheck, EvidenceCheck, SkipCheck

    """One criterion of a gate result, with the values or votes behind its status."""
    from .explain import _json_value
    from .explain_gates import trace_inputs_record

    out: dict[str, Any] = {
        "gate": criterion.gate,
        "kind": criterion.kind,
        "name": criterion.name,
        "status": criterion.status,
        "because": criterion.because,
        "source": criterion.span.short if criterion.span is not None else None,
    }
    if isinstance(criterion, EvidenceCheck):
        if criterion.missing:
            out["missing"] = True
        else:
            out["value"] = _json_value(criterion.value)
    elif isinstance(criterion, ConditionCheck):
        out["text"] = criterion.text
        out["inputs"] = trace_inputs_record(criterion.trace)
    elif isinstance(criterion, ApprovalCheck):
        out.update(
            group=criterion.group,
            rule=criterion.rule,
            needed=criterion.needed,
            approved=criterion.approved,
            approvers=list(criterion.approvers),
            rejected_by=list(criterion.rejected_by),
            abstained=list(criterion.abstained),
            vetoed_by=list(criterion.vetoed_by),
            ignored=[vote.as_record() for vote in criterion.ignored],
            superseded=[vote.as_record() for vote in criterion.superseded],
        )
        if criterion.missing:
            out["missing"] = True
    elif isinstance(criterion, SkipCheck):
        out["skipped"] = list(criterion.skipped)
    return out


def held_text(criterion: dict[str, Any]) -> str:
    """A criterion record that holds an item back, in a few words (for tables and CSV)."""
    kind, name = criterion["kind"], criterion["name"]
    if kind == "evidence":
        return f"{name} missing" if criterion.get("missing") else f"{name} empty"
    if kind == "condition":
        return f"{name} {'unknown' if criterion['status'] == 'unknown' else 'not met'}"
    if kind == "approval":
        if criterion["vetoed_by"]:
            return f"{name} vetoed by {', '.join(criterion['vetoed_by'])}"
        if criterion.get("missing"):
            return f"{name}: no votes"
        return f"{name}: {criterion['approved']} approved, {criterion['needed']} needed"
    return f"skips {', '.join(criterion['skipped'])}"


def _held_by(rec: dict[str, Any]) -> str:
    return "; ".join(held_text(c) for c in rec.get("criteria", ()) if c["status"] != "met")


class GateCsvWriter(CsvWriter):
    columns = GATE_CSV_COLUMNS

    def row(self, rec: dict[str, Any]) -> dict[str, Any]:
        outcome = rec.get("outcome")
        return {
            "id": rec.get("id"),
            "line": rec.get("line"),
            "stage": rec.get("stage"),
            "target": rec.get("target"),
            "result": rec.get("result"),
            "held_by": _held_by(rec),
            "outcome": outcome.get("outcome") if isinstance(outcome, dict) else None,
            "criteria": self.dumps(rec["criteria"]).decode("utf-8") if "criteria" in rec else None,
        }


class GateTableWriter(TableWriter):
    headers = ("id", "stage", "target", "result", "held back by")

    def row(self, rec: dict[str, Any]) -> list[str]:
        return [cell(rec.get("id")), cell(rec.get("stage")), cell(rec.get("target")), cell(rec.get("result")),
                self.clip(_held_by(rec))]


# -- diagnostics ------------------------------------------------------------------------------------


_SNIPPET_WIDTH = 120  # characters of a source line shown with a diagnostic


def format_diagnostic(diagnostic: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """One diagnostic as `FILE:LINE:COLUMN: error: MESSAGE`, the source line and the hint."""
    span = diagnostic.span
    where = f"{span}: " if span else ""
    lines = [f"{where}{diagnostic.severity}: {diagnostic.message}"]
    text = (sources or {}).get(span.file) if span else None
    if span and text is not None:
        source_lines = text.splitlines()
        if 1 <= span.line <= len(source_lines):
            source = source_lines[span.line - 1].replace("\t", " ")
            column = min(span.column, len(source) + 1)  # past the line's end: at its end
            length = 1
            if span.end_line == span.line and span.end_column and span.end_column > span.column:
                length = span.end_column - span.column
            length = max(1, min(length, len(source) - column + 1))
            if len(source) > _SNIPPET_WIDTH:  # a long line: the part around the column, marked as cut
                start = max(0, min(column - 1 - _SNIPPET_WIDTH // 3, len(source) - _SNIPPET_WIDTH))
                shown = ("..." if start else "") + source[start:start + _SNIPPET_WIDTH]
                column = column - start + (3 if start else 0)
                length = max(1, min(length, len(shown) - column + 1))
                source = shown + ("..." if start + _SNIPPET_WIDTH < len(source) else "")
            number = str(span.line)
            lines.append(f"  {number} | {source}")
            lines.append(f"  {' ' * len(number)} | {' ' * (column - 1)}{'^' * length}")
    if diagnostic.hint:
        lines.append(f"  hint: {diagnostic.hint}")
    return "\n".join(lines)


def format_diagnostics(diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> str:
    return "\n".join(format_diagnostic(d, sources) for d in diagnostics)


def diagnostic_record(diagnostic: Diagnostic) -> dict[str, Any]:
    """A diagnostic as JSON-ready data (`validate --format json`)."""
    span = diagnostic.span
    return {
        "file": span.file if span else None,
        "line": span.line if span else None,
        "column": span.column if span else None,
        "severity": diagnostic.severity,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
    }


# -- lint findings ---------------------------------------------------------------------------------


def format_findings(findings: Iterable[Any], sources: dict[str, str] | None = None) -> str:
    """Lint findings like diagnostics (severity error, warning or note), each with its witness."""
    from .errors import Diagnostic

    blocks = []
    for finding in findings:
        severity = "note" if finding.severity == "info" else finding.severity
        text = format_diagnostic(Diagnostic(finding.code, finding.message, finding.span, finding.hint, severity), sources)
        if finding.witness is not None:
            text += "\n  witness: " + json_dumps()(finding.witness).decode("utf-8")
        blocks.append(text)
    return "\n".join(blocks)


def finding_record(finding: Any) -> dict[str, Any]:
    """A lint finding as JSON-ready data (`lint --format json`)."""
    span = finding.span
    return {
        "file": span.file, "line": span.line, "column": span.column, "severity": finding.severity,
        "code": finding.code, "policy": finding.policy, "rule": finding.rule, "message": finding.message,
        "related": list(finding.related), "witness": finding.witness, "hint": finding.hint,
    }
