"""Render stage: decisions and rejections -> output records (JSONL, JSON, CSV, table);
diagnostics -> text.

A record's fields and their order are the published contract (`schemas/decision.schema.json`).
One writer per format, each taking records one at a time; all but the table stream.
Diagnostics are formatted here and only here: `FILE:LINE:COLUMN: error: MESSAGE`, the
offending line with the span underlined, then the hint.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import IO, Any

from .errors import Diagnostic
from .evaluate import Decision, Rejection

OUTPUT_FORMATS = ("jsonl", "json", "csv", "table")
CSV_COLUMNS = ("id", "line", "outcome", "rule", "because", "error", "policy", "policy_version", "policy_sha256")


def json_dumps() -> Any:
    """A function value -> compact JSON bytes, the same bytes on every run."""
    from .jsonio import encode

    return encode


def record(result: Decision | Rejection, explain: bool = False) -> dict[str, Any]:
    """The output record of a decision or rejection."""
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
        from .explain import decision_trace_record

        out["trace"] = decision_trace_record(result)
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
    def __init__(self, out: IO[bytes], explain: bool = False):
        super().__init__(out)
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.columns = CSV_COLUMNS + (("trace",) if explain else ())
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
            "id": rec.get("id"),
            "line": rec.get("line"),
            "outcome": rec.get("outcome"),
            "rule": rec.get("rule"),
            "because": rec.get("because"),
            "error": rec.get("error"),
            "policy": policy.get("name"),
            "policy_version": policy.get("version"),
            "policy_sha256": policy.get("sha256"),
            "trace": self.dumps(rec["trace"]).decode("utf-8") if "trace" in rec else None,
        }
        self.writer.writerow([cell(row.get(column)) for column in self.columns])
        self.flush_buffer()


def cell(value: Any) -> str:
    """A value as one CSV or table cell: lists joined with '; ', nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(cell(v) for v in value)
    return str(value)


class TableWriter(Writer):
    """A table for people at a terminal; it needs every row to size the columns."""

    def __init__(self, out: IO[bytes], width: int = 60):
        super().__init__(out)
        self.rows: list[list[str]] = []
        self.width = width

    def write(self, rec: dict[str, Any]) -> None:
        if "error" in rec:
            reason = f"error (line {rec.get('line')}): {rec['error']}"
            self.rows.append([cell(rec.get("id")), "REJECTED", "", self.clip(reason)])
        else:
            self.rows.append([cell(rec.get("id")), cell(rec.get("outcome")), cell(rec.get("rule")) or "(default)",
                              self.clip(cell(rec.get("because")))])

    def clip(self, text: str) -> str:
        return text if len(text) <= self.width else text[: self.width - 3] + "..."

    def close(self) -> None:
        from tabulate import tabulate

        if self.rows:
            table = tabulate(self.rows, headers=["id", "outcome", "rule", "because"], tablefmt="simple")
            self.out.write(table.encode("utf-8") + b"\n")
        super().close()


def writer_for(fmt: str, out: IO[bytes], explain: bool = False) -> Writer:
    """The writer for output format `fmt`."""
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt == "json":
        return JsonWriter(out)
    if fmt == "csv":
        return CsvWriter(out, explain)
    if fmt == "table":
        return TableWriter(out)
    raise ValueError(f"unknown output format '{fmt}'")


# -- diagnostics ------------------------------------------------------------------------------------


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
            number = str(span.line)
            lines.append(f"  {number} | {source}")
            length = 1
            if span.end_line == span.line and span.end_column and span.end_column > span.column:
                length = span.end_column - span.column
            length = max(1, min(length, len(source) - span.column + 1))
            lines.append(f"  {' ' * len(number)} | {' ' * (span.column - 1)}{'^' * length}")
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
