"""Render stage: records match the published schema; each output format; diagnostics."""

from __future__ import annotations

import io
import json

import jsonschema
import pytest

import engine
from engine.errors import Diagnostic, Span
from engine.render import cell, format_diagnostic, record, table, writer_for

from .conftest import SCHEMAS, policy_text

VALIDATOR = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "decision.schema.json").read_text()))

RULES = """
- id: recurring
  outcome: process_improvement
  when:
    all:
      - recurrence_90d >= 3
      - not: estimated_cost > 100
  because: It recurs.
- id: wide
  outcome: initiative
  when: departments_affected >= 3
"""
ITEMS = [
    {"id": "A", "recurrence_90d": 4, "estimated_cost": 5},
    {"id": "B", "departments_affected": 4, "recurrence_90d": 4},
    {"id": "C", "recurrence_90d": "x"},
    {"id": 4, "estimated_cost": 1},
]


@pytest.mark.parametrize("hit", ["first", "collect"])
@pytest.mark.parametrize("explain", [False, True])
def test_records_follow_the_published_schema(hit: str, explain: bool) -> None:
    policy = engine.loads(policy_text(RULES, hit=hit))
    for result in policy.classify_all(ITEMS, trace=explain):
        rec = json.loads(json.dumps(record(result, explain), default=str))
        errors = list(VALIDATOR.iter_errors(rec))
        assert errors == [], (rec, [e.message for e in errors])


def test_decision_and_error_record_fields() -> None:
    policy = engine.loads(policy_text(RULES))
    decided, rejected = [record(r) for r in policy.classify_all([ITEMS[0], ITEMS[2]])]
    assert list(decided) == ["id", "outcome", "rule", "because", "policy"]
    assert decided["policy"] == {"name": "test-policy", "version": "1", "sha256": policy.sha256}
    assert list(rejected) == ["id", "line", "error", "policy"]
    assert rejected["line"] == 2 and rejected["id"] == "C"


def write_all(fmt: str, explain: bool = False) -> str:
    policy = engine.loads(policy_text(RULES))
    out = io.BytesIO()
    writer = writer_for(fmt, out, explain)
    for result in policy.classify_all(ITEMS, trace=explain):
        writer.write(record(result, explain))
    writer.close()
    return out.getvalue().decode("utf-8")


def test_jsonl_is_one_compact_line_per_item() -> None:
    lines = write_all("jsonl").splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    assert lines[0].startswith('{"id":"A","outcome":"process_improvement","rule":"recurring"')


def test_json_is_one_array() -> None:
    assert [r["id"] for r in json.loads(write_all("json"))] == ["A", "B", "C", 4]
    out = io.BytesIO()
    writer_for("json", out).close()
    assert json.loads(out.getvalue()) == []


def test_csv_has_a_header_and_a_row_per_item() -> None:
    import csv

    rows = list(csv.DictReader(io.StringIO(write_all("csv"))))
    assert [r["outcome"] or r["error"][:10] for r in rows] == ["process_improvement", "initiative", "'recurrenc", "routine_ticket"]
    assert rows[2]["line"] == "3"
    with_trace = list(csv.DictReader(io.StringIO(write_all("csv", explain=True))))
    assert json.loads(with_trace[0]["trace"])["rules"][0]["rule"] == "recurring"


@pytest.mark.parametrize(("value", "written"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("@SUM(A1)", "'@SUM(A1)"),
    ("+1+1", "'+1+1"), ("-1+2", "'-1+2"), ("\tx", "'\tx"), ("-5", "-5"), (-5, "-5"), ("+2.5", "+2.5"), ("T-1", "T-1"),
])
def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text(value: object, written: str) -> None:
    import csv

    out = io.BytesIO()
    writer = writer_for("csv", out)
    writer.write(record(engine.loads(policy_text(RULES)).classify({"id": value, "recurrence_90d": 4, "estimated_cost": 5})))
    writer.close()
    assert next(csv.DictReader(io.StringIO(out.getvalue().decode())))["id"] == written


def test_a_csv_cell_holding_a_line_break_keeps_its_row_whole() -> None:
    # a carriage return alone too, which Python 3.11's writer would leave unquoted
    import csv

    out = io.BytesIO()
    writer = writer_for("csv", out)
    policy = engine.loads(policy_text(RULES))
    ids = ["a\rb", "c\nd", "e\r\nf", "g"]
    for item_id in ids:
        writer.write(record(policy.classify({"id": item_id, "recurrence_90d": 4, "estimated_cost": 5})))
    writer.close()
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode(), newline="")))
    assert [row["id"] for row in rows] == ids and {row["outcome"] for row in rows} == {"process_improvement"}
    assert b'\n"a\rb","",' in out.getvalue()  # the same bytes on every Python


def test_table_has_every_item() -> None:
    table = write_all("table")
    assert "REJECTED" in table and "(default)" in table
    assert len(table.strip().splitlines()) == 2 + 4


def test_a_table_shows_control_and_bidirectional_characters_escaped() -> None:
    shown = table([["A\x1b[2J\nB\tC\u202eD\x85", 1]], ["id", "n"])
    assert "A\\x1b[2J\\nB\\tC\\u202eD\\x85" in shown
    assert not any(char in shown for char in "\x1b\t\u202e\x85") and len(shown.splitlines()) == 3
    assert "caf\u00e9 \u6f22\u5b57" in table([["caf\u00e9 \u6f22\u5b57"]], ["id"])  # letters of any script stay


def test_an_id_that_is_an_object_is_shown_as_json_in_tables_and_csv() -> None:
    assert cell({"a": [1, "x"], "b": None}) == '{"a":[1,"x"],"b":null}'


def test_output_is_byte_identical_between_runs() -> None:
    assert write_all("jsonl", explain=True) == write_all("jsonl", explain=True)


def test_diagnostic_with_snippet_and_hint() -> None:
    source = "rules:\n  - when: recurence_90d >= 10\n"
    diagnostic = Diagnostic("unknown-name", "name 'recurence_90d' is not a declared input",
                            Span("p.yaml", 2, 11, 2, 24), "did you mean 'recurrence_90d'?")
    assert format_diagnostic(diagnostic, {"p.yaml": source}) == (
        "p.yaml:2:11: error: name 'recurence_90d' is not a declared input\n"
        "  2 |   - when: recurence_90d >= 10\n"
        "    |           ^^^^^^^^^^^^^\n"
        "  hint: did you mean 'recurrence_90d'?"
    )


def test_a_long_line_is_shown_around_the_column_and_a_column_past_its_end_at_its_end() -> None:
    source = "  when: " + "x > 0 and " * 30 + "recurence_90d >= 10 and " + "y > 0 and " * 30 + "true\n"
    column = source.index("recurence_90d") + 1
    diagnostic = Diagnostic("unknown-name", "unknown", Span("p.yaml", 1, column, 1, column + 13))
    _, shown, caret = format_diagnostic(diagnostic, {"p.yaml": source}).splitlines()
    assert shown.startswith("  1 | ...") and shown.endswith("...") and len(shown) < 140
    assert shown[caret.index("^"):caret.rindex("^") + 1] == "recurence_90d"
    past = Diagnostic("expression-syntax", "unknown", Span("p.yaml", 1, 400))
    assert format_diagnostic(past, {"p.yaml": "  when: x >\n"}).splitlines()[2] == "    |            ^"


# -- gate records ------------------------------------------------------------------------------------

GATE_VALIDATOR = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "gate.schema.json").read_text()))


def gate_results(explain: bool = False) -> list[dict]:
    """Records of every kind of gate result and criterion, through the default policies."""
    from .conftest import EXAMPLES, POLICIES

    policy = engine.load(str(POLICIES))
    items = [json.loads(line) for line in (EXAMPLES / "initiatives.jsonl").read_text().splitlines()]
    items += [{"id": "X", "stage": "nowhere"}, {"id": "Y", "stage": "definition", "outcome": "initiative", "rule": "by hand"}]
    gater = policy.gater()
    return [json.loads(json.dumps(gater.record(result, explain))) for result in policy.gate_all(items)]


@pytest.mark.parametrize("explain", [False, True])
def test_gate_records_follow_the_published_schema(explain: bool) -> None:
    records = gate_results(explain)
    kinds = {c["kind"] for r in records for c in r.get("criteria", ())}
    assert kinds == {"evidence", "condition", "approval", "skip"}
    assert {r.get("result") for r in records} == {"pass", "fail", "not_applicable", None}
    for rec in records:
        errors = list(GATE_VALIDATOR.iter_errors(rec))
        assert errors == [], (rec, [e.message for e in errors])


def test_gate_record_fields_in_order() -> None:
    records = gate_results()
    assert list(records[0]) == ["id", "stage", "target", "result", "criteria", "applies_to", "outcome", "policy"]
    assert list(gate_results(explain=True)[0])[-1] == "trace"
    evidence, approval = records[0]["criteria"][0], records[5]["criteria"][-1]
    assert list(evidence) == ["gate", "kind", "name", "status", "because", "source", "value"]
    assert list(approval) == ["gate", "kind", "name", "status", "because", "source", "group", "rule", "needed", "approved",
                              "approvers", "rejected_by", "abstained", "vetoed_by", "ignored", "superseded"]
    assert list(records[-2]) == ["id", "line", "error", "policy"]
    assert records[-1]["outcome"] == {"outcome": "initiative", "rule": "by hand", "from": "item", "policy": None}


def test_gate_csv_and_table() -> None:
    import csv

    from engine.render import GATE_CSV_COLUMNS

    records = gate_results()
    out = io.BytesIO()
    writer = writer_for("csv", out, kind="gate")
    for rec in records:
        writer.write(rec)
    writer.close()
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert tuple(rows[0]) == GATE_CSV_COLUMNS
    assert rows[1]["held_by"] == "sponsor missing" and rows[1]["result"] == "fail"
    assert json.loads(rows[1]["criteria"])[1]["missing"] is True
    out = io.BytesIO()
    table = writer_for("table", out, kind="gate")
    for rec in records:
        table.write(rec)
    table.close()
    lines = out.getvalue().decode().splitlines()
    assert lines[0].split() == ["id", "stage", "target", "result", "held", "back", "by"]
    assert any("budget-release vetoed by cfo" in line for line in lines)
    assert sum("REJECTED" in line for line in lines) == 2


def test_records_of_a_policy_that_counts_days_since_follow_the_schemas() -> None:
    import datetime as dt

    from .conftest import gates_text

    inputs = "inputs:\n  opened: date\n"
    as_of = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    policy = engine.loads(policy_text("- {id: old, outcome: initiative, when: days_since(opened) > 30}", inputs=inputs),
                          as_of=as_of)
    items = [{"id": "A", "opened": "2026-01-01"}, {"id": "B", "opened": "x"}]
    records = [json.loads(json.dumps(record(result, True))) for result in policy.classify_all(items, trace=True)]
    assert [r["policy"]["as_of"] for r in records] == ["2026-03-01T09:30:00+00:00"] * 2
    for rec in records:
        assert list(VALIDATOR.iter_errors(rec)) == []
    gates = engine.loads(gates_text("- to: analysis\n  when: days_since(opened) < 90\n", inputs=inputs), as_of=as_of)
    gater = gates.gater()
    results = list(gates.gate_all([{"id": "G", "stage": "definition", "opened": "2026-01-01"}]))
    gate_records = [json.loads(json.dumps(gater.record(result, True))) for result in results]
    assert gate_records[0]["result"] == "pass" and gate_records[0]["policy"]["as_of"] == "2026-03-01T09:30:00+00:00"
    assert list(GATE_VALIDATOR.iter_errors(gate_records[0])) == []


def test_markdown_text_and_code_show_any_text_as_written() -> None:
    from engine.render import markdown_code, markdown_text

    assert markdown_text("<b>*x*</b> _y_ service_criticality a|b & [l](u) ~~s~~ \\") == (
        "\\<b\\>\\*x\\*\\</b\\> \\_y\\_ service_criticality a\\|b \\& \\[l\\](u) \\~\\~s\\~\\~ \\\\")
    # a code span is fenced by more backticks than it holds in a row, padded where it starts or ends with one
    assert [markdown_code(text) for text in ("a", "a`b", "`a", "a``b")] == ["`a`", "``a`b``", "`` `a ``", "```a``b```"]
