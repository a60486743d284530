"""The diff report: JSON that follows its published schema, markdown for a pull request, text tables."""

from __future__ import annotations

import json

import jsonschema
import pytest

import engine
from engine.render_diff import diff_markdown, diff_record, diff_text, percent, summary

from .conftest import SCHEMAS, policy_text
from .test_compare import INPUTS_WITH_A_REQUIRED_TYPE, ITEMS, NEXT_RULES, RULES

SCHEMA = json.loads((SCHEMAS / "diff.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def a_diff(old_rules: str = RULES, new_rules: str = NEXT_RULES, items: list | None = None, **options: str) -> engine.PolicyDiff:
    old = engine.loads(policy_text(old_rules, **options), file="old.yaml")
    new = engine.loads(policy_text(new_rules, **options), file="new.yaml")
    return engine.diff(old, new, ITEMS if items is None else items)


def with_errors() -> engine.PolicyDiff:
    old = engine.loads(policy_text(RULES), file="old.yaml")
    new = engine.loads(policy_text(NEXT_RULES, inputs=INPUTS_WITH_A_REQUIRED_TYPE), file="new.yaml")
    return engine.diff(old, new, ITEMS + [{"id": "X|Y", "type": "incident", "recurrence_90d": -3}])


def test_the_published_diff_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("result", [a_diff(), with_errors(), a_diff(RULES, RULES, hit="collect"),
                                    a_diff(items=[])], ids=["changes", "errors", "collect", "no items"])
def test_json_follows_the_published_schema(result: engine.PolicyDiff) -> None:
    document = json.loads(json.dumps(diff_record(result)))
    errors = [error.message for error in VALIDATOR.iter_errors(document)]
    assert errors == [], errors


def test_json_names_both_policies_and_counts_every_cell() -> None:
    document = diff_record(a_diff())
    assert document["old"]["file"] == "old.yaml" and document["new"]["file"] == "new.yaml"
    assert (document["items"], document["changed"], document["changed_share"]) == (7, 4, round(4 / 7, 6))
    assert document["transitions"][0] == {
        "from": "process_improvement", "to": "routine_ticket", "count": 3, "share": round(3 / 7, 6),
        "examples": [{"id": "A", "line": 1}, {"id": "B", "line": 2}, {"id": "G", "line": 7}]}
    assert {"rule": None, "old": 1, "new": 4, "delta": 3, "status": "changed"} in document["rules"]
    errors = diff_record(with_errors())["errors"]
    assert errors["became"]["count"] == 7 and errors["became"]["examples"][0] == {
        "id": "A", "line": 1, "was": "process_improvement", "error": "'type' is required but missing"}
    assert errors["both"]["count"] == 1 and errors["both"]["examples"][0]["id"] == "X|Y"


def test_markdown_is_ready_for_a_pull_request() -> None:
    text = diff_markdown(with_errors())
    lines = text.splitlines()
    assert lines[0] == "## Policy diff: test-policy 1 → 1"
    assert "**7 of 8 items (87.5%) change outcome**; 7 become errors; 1 is an error under both." in lines
    assert "| from                | to      |   items |   share | examples     |" in lines
    assert "|:--------------------|:--------|--------:|--------:|:-------------|" in lines  # numbers right-aligned
    assert "| process_improvement | (error) |       5 |   62.5% | A, B, C, ... |" in lines
    assert "### Items that became errors: 7" in lines
    assert "<details><summary>Examples (the first 3)</summary>" in lines
    assert any(line.startswith("| X\\|Y ") for line in lines)  # a '|' in a cell would break the table
    assert text.count("<details>") == text.count("</details>") == 2


def test_text_report_sections_and_clipped_messages() -> None:
    text = diff_text(with_errors())
    assert text.startswith("Policy diff: test-policy 1 -> 1\n\nold:  test-policy 1  old.yaml  sha256 ")
    for heading in ("Changed outcomes:", "Outcome counts:", "Rules whose firing counts changed:",
                    "Items that became errors: 7 (the first 3)", "Errors under both policies: 1"):
        assert heading + "\n" in text
    assert "(error)" in text and "(default)" in text
    assert all(len(line) < 130 for line in text.splitlines())
    assert "examples" not in diff_text(with_errors(), examples=False)


def test_identical_policies_say_so() -> None:
    result = a_diff(RULES, RULES)
    assert summary(result) == "No item changes outcome (7 items)."
    text = diff_text(result)
    assert "Both policies have the same content" in text and "Changed outcomes" not in text


def test_summary_counts_and_plurals() -> None:
    items = [{"id": "A", "recurrence_90d": 3}, {"id": "B", "recurrence_90d": 6, "departments_affected": 5}]
    assert summary(a_diff(items=items)) == "2 of 2 items (100.0%) change outcome."
    assert summary(a_diff(items=items[:1])) == "1 of 1 item (100.0%) changes outcome."


def test_percent_never_rounds_something_to_nothing() -> None:
    assert (percent(1, 124590), percent(0, 10), percent(1, 8), percent(0, 0)) == ("<0.1%", "0.0%", "12.5%", "0%")
    assert (percent(124589, 124590), percent(5, 5)) == (">99.9%", "100.0%")


def test_markdown_shows_item_ids_as_written_not_as_markup() -> None:
    # an id that is markup (or closes the fold the examples are in) must not change the report
    hostile = "</details><b>*x*</b> _y_ [z](u)"
    old = engine.loads(policy_text(RULES), file="old.yaml")
    new = engine.loads(policy_text(NEXT_RULES, inputs=INPUTS_WITH_A_REQUIRED_TYPE), file="new.yaml")
    text = diff_markdown(engine.diff(old, new, [{"id": hostile, "recurrence_90d": 4}]))
    assert text.count("<details>") == text.count("</details>") == 1 and "<b>" not in text
    assert "| \\</details\\>\\<b\\>\\*x\\*\\</b\\> \\_y\\_ \\[z\\](u) |" in text
