"""Validate stage: every kind of policy mistake, each with its code, line and column."""

from __future__ import annotations

import pytest

import engine
from engine.errors import PolicyError
from engine.validate import check_paths

from .conftest import policy_text


def problems_of(write, text: str) -> list[tuple[str, int, int, str | None]]:
    path = write("policy.yaml", text)
    report = check_paths([str(path)])
    return [(d.code, d.span.line, d.span.column, d.hint) for d in report.errors]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def column_of(text: str, needle: str, occurrence: str | None = None) -> int:
    line = text.splitlines()[line_of(text, occurrence or needle) - 1]
    return line.index(needle) + 1


def only(problems: list[tuple[str, int, int, str | None]]) -> tuple[str, int, int, str | None]:
    assert len(problems) == 1, problems
    return problems[0]


def test_a_valid_policy_has_no_problems(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
          because: Recurs.
    """)
    assert problems_of(write, text) == []


def test_yaml_syntax_error(write) -> None:
    code, line, column, _ = only(problems_of(write, "rulebook: 1\nkind: classification\nname: [unclosed\nrules: []\n"))
    assert code == "yaml-syntax" and line == 4


def test_duplicate_key(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
          when: recurrence_90d >= 6
    """)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("duplicate-key", line_of(text, ">= 6"), 5)
    assert "first 'when' is at line" in hint


def test_unknown_key_with_did_you_mean(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
          becuase: typo
    """)
    assert only(problems_of(write, text)) == ("unknown-key", line_of(text, "becuase"), 5, "did you mean 'because'?")


def test_a_misspelt_key_of_an_input_declaration(write) -> None:
    inputs = "inputs:\n  risk: {tpye: string}\n"
    text = policy_text("- {id: r1, outcome: initiative, when: \"risk == 'high'\"}", inputs=inputs)
    problems = problems_of(write, text)
    assert ("unknown-key", line_of(text, "tpye"), column_of(text, "tpye"), "did you mean 'type'?") in problems
    assert all(code != "invalid-value" for code, *_ in problems)  # not "must be one of 'string', ..."


def test_a_number_outside_its_bounds_gets_no_hint_about_quotes(write) -> None:
    inputs = "inputs:\n  count: {type: integer, maximum: -1, default: 5}\n  note: {type: string, default: 5}\n"
    text = policy_text("- {id: r1, outcome: initiative, when: 'count > 1 and note == \"x\"'}", inputs=inputs)
    problems = problems_of(write, text)
    assert [(line, hint) for _, line, _, hint in problems] == [
        (line_of(text, "count: {"), None), (line_of(text, "note: {"), "YAML reads 5 as a number; write '5' in quotes for the text")]


@pytest.mark.parametrize("declaration", [
    "{type: string, minimum: 0, default: low}",
    "{type: array, minimum: 1, default: []}",
    "{type: object, maximum: 1, default: {}}",
    "{type: date, minimum: 5, default: '2019-01-01'}",
])
def test_a_bound_on_an_input_that_is_no_number_is_reported_with_its_default(write, declaration: str) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'has(x)'}", inputs=f"inputs:\n  x: {declaration}\n")
    code, line, column, _ = only(problems_of(write, text))
    bound = "minimum" if "minimum" in declaration else "maximum"
    assert (code, line, column) == ("invalid-input", line_of(text, "x: {"), column_of(text, bound))


def test_a_bound_that_is_not_a_number(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'cost > 1'}", inputs="inputs:\n  cost: {type: number, maximum: .nan}\n")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("invalid-input", line_of(text, "cost: {"), column_of(text, ".nan"))
    assert hint == "write a number, or leave the bound out"


def test_a_default_for_a_mapping_whose_properties_are_declared(write) -> None:
    # it would never be read: each property is an input of its own, with its own default or none
    inputs = "inputs:\n  impact:\n    type: object\n    properties: {users: {type: integer}}\n    default: {users: 5}\n"
    text = policy_text("- {id: r1, outcome: initiative, when: 'impact.users > 1'}", inputs=inputs)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column, hint) == ("invalid-default", line_of(text, "default: {users"), 5,
                                          "give each property its own default")


def test_unknown_top_level_key(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}").replace("hit: first", "hits: first")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column, hint) == ("unknown-key", line_of(text, "hits:"), 1, "did you mean 'hit'?")


def test_missing_required_key(write) -> None:
    text = policy_text("""
        - id: r1
          when: recurrence_90d >= 5
    """)
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("missing-key", line_of(text, "id: r1"), 5)


def test_wrong_type_of_a_value(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
          priority: high
    """, hit="priority")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("wrong-type", line_of(text, "priority: high"), column_of(text, "high", "priority: high"))


def test_unquoted_yaml_boolean_gets_a_hint(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1', because: yes}")
    code, _, _, hint = only(problems_of(write, text))
    assert code == "wrong-type" and "quotes" in hint


def test_expression_syntax_error(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d = 5
    """)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line) == ("expression-syntax", line_of(text, "recurrence_90d = 5"))
    assert column >= column_of(text, "recurrence_90d")
    assert hint == "compare with '==', not '='"


def test_an_expression_of_only_a_comment_is_empty(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: "#recurrence_90d > 5"
    """)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("expression-syntax", line_of(text, "#recurrence"), column_of(text, "#recurrence"))
    assert hint == "remove the '#', or write the condition before it"
    (error,) = check_paths([str(write("policy.yaml", text))]).errors
    assert error.message == "expression is empty: everything after '#' is a comment"


@pytest.mark.parametrize(("levels", "ok"), [(15, True), (16, False)])
def test_a_condition_nested_too_deeply_for_the_generated_code_is_an_error(write, levels: int, ok: bool) -> None:
    # Python's parser takes 200 brackets, and the generated code brackets each level twice
    import json

    when: object = "recurrence_90d > 1"
    for _ in range(levels):
        when = {"not": {"not": when}}
    text = policy_text(f"- id: r1\n  outcome: initiative\n  when: {json.dumps(when)}\n")
    if ok:
        assert problems_of(write, text) == []
        assert engine.loads(text).classify({"recurrence_90d": 3}, trace=True).trace.rules[0].result == "true"
        return
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("condition-too-deep", line_of(text, "when:"), column_of(text, '{"not"'))
    assert hint == "give its inner parts rules of their own, or flatten nested all: and any:"
    (error,) = check_paths([str(write("policy.yaml", text))]).errors
    assert error.message == "condition nests 32 levels of all, any and not (written so, or as and, or, not); at most 30"


@pytest.mark.parametrize(("depth", "ok"), [(50, True), (51, False)])
def test_an_expression_nested_too_deeply_is_an_error(write, depth: int, ok: bool) -> None:
    when = "recurrence_90d" + " > 1"
    for _ in range(depth - 2):  # each abs() a level: `abs(x) > 1` is 3
        when = when.replace("recurrence_90d", "abs(recurrence_90d)", 1)
    text = policy_text(f"- id: r1\n  outcome: initiative\n  when: \"{when}\"\n")
    if ok:
        assert problems_of(write, text) == []
        assert engine.loads(text).decide({"recurrence_90d": 3}).rule == "r1"
        return
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("expression-too-deep", line_of(text, "when:"), column_of(text, "abs("))
    assert hint == "split it into several conditions under all: or any:"


def test_unknown_name_with_did_you_mean(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when:
            all:
              - service_criticality == 'critical'
              - recurence_90d >= 10
    """)
    assert only(problems_of(write, text)) == (
        "unknown-name", line_of(text, "recurence_90d"), column_of(text, "recurence_90d"), "did you mean 'recurrence_90d'?"
    )


@pytest.mark.parametrize(
    "expression, needle",
    [
        ("recurrence_90d.__class__ == 1", "recurrence_90d.__class__"),
        ("[x for x in [1, 2]] == [1]", "[x for x in [1, 2]]"),
        ("(lambda: 1)() == 1", "lambda: 1"),
        ("lower(type).upper() == 'X'", "lower(type).upper"),
        ("__import__('os') == 1", "__import__"),
        ("recurrence_90d is 1", "recurrence_90d is 1"),
        ("recurrence_90d & 1 == 1", "recurrence_90d & 1"),
        ("f'{type}' == 'x'", "f'{type}'"),
        ("(x := 1) == 1", "x := 1"),
    ],
)
def test_forbidden_construct(write, expression: str, needle: str) -> None:
    text = policy_text(f"""
        - id: r1
          outcome: initiative
          when: "{expression}"
    """)
    (code, line, column, _), *_ = problems_of(write, text)
    assert code in ("forbidden-syntax", "unknown-function")
    assert line == line_of(text, "when:")
    assert column == column_of(text, needle)


def test_enum_value_outside_the_enum_with_did_you_mean(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: service_criticality == 'critcal'
    """)
    assert only(problems_of(write, text)) == (
        "enum-value", line_of(text, "critcal"), column_of(text, "'critcal'"), "did you mean 'critical'?"
    )


def test_enum_value_inside_a_list(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: "service_criticality in ['high', 'critcal']"
    """)
    assert only(problems_of(write, text))[:3] == ("enum-value", line_of(text, "critcal"), column_of(text, "'critcal'"))


def test_undeclared_rule_outcome(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiatve
          when: recurrence_90d >= 5
    """)
    assert only(problems_of(write, text)) == (
        "unknown-outcome", line_of(text, "initiatve"), column_of(text, "initiatve"), "did you mean 'initiative'?"
    )


def test_undeclared_default(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}", default="routine")
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("unknown-default", line_of(text, "default: routine"), 10)
    assert hint == "did you mean 'routine_ticket'?"


def test_duplicate_rule_ids(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 6
    """)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("duplicate-rule-id", line_of(text, ">= 5") + 1, 9)
    assert "line" in hint


def test_priority_missing_under_priority_hit(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
          priority: 2
        - id: r2
          outcome: initiative
          when: recurrence_90d >= 6
    """, hit="priority")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("priority-missing", line_of(text, "id: r2"), 5)


def test_priority_under_first_hit(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= 5
          priority: 2
    """)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("priority-unexpected", line_of(text, "priority: 2"), 5)
    assert "hit: priority" in hint


def test_type_mismatch_in_an_expression(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: recurrence_90d >= '5'
    """)
    code, _, _, hint = only(problems_of(write, text))
    assert code == "type-mismatch" and hint == "numbers are written without quotes"


def test_a_condition_must_be_true_or_false(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d + 1'}")
    assert only(problems_of(write, text))[0] == "not-a-condition"


def test_invalid_regular_expression(write) -> None:
    inputs = "inputs:\n  title: string\n"
    text = policy_text("- {id: r1, outcome: initiative, when: \"matches(title, '[unclosed')\"}", inputs=inputs)
    code, line, column, _ = only(problems_of(write, text))
    assert code == "invalid-regex" and column == column_of(text, "'[unclosed'")


@pytest.mark.parametrize("pattern", [r"(a)\\1", "(?<=a)b", "a(?!b)", "x{1001}"])
def test_a_regular_expression_that_needs_backtracking_is_refused_with_a_hint(write, pattern: str) -> None:
    text = policy_text(f"- id: r1\n  outcome: initiative\n  when: matches(title, '{pattern}')",
                       inputs="inputs:\n  title: string\n")
    code, _, column, hint = only(problems_of(write, text))
    assert code == "invalid-regex" and column == column_of(text, f"'{pattern}'")
    assert hint.startswith("patterns are RE2's syntax, matched in time linear in the text: no back-references")


@pytest.mark.parametrize("expression, part, reason", [
    ("recurrence_90d / 0 > 1", "recurrence_90d / 0", "division by zero"),
    ("recurrence_90d % (2 - 2) == 1", "recurrence_90d % (2 - 2)", "division by zero"),
    ("10 ** 10 ** 10 > recurrence_90d", "10 ** 10 ** 10", "power 10 ** 10000000000 is too large"),
    ("len('a' * 10 ** 9) > recurrence_90d", "len('a' * 10 ** 9)", "repetition would build 1,000,000,000 characters"),
    ("max([]) > recurrence_90d", "max([])", "max() of an empty list"),
])
def test_a_part_that_fails_whatever_the_item_is_an_error(write, expression: str, part: str, reason: str) -> None:
    text = policy_text(f'- {{id: r1, outcome: initiative, when: "{expression}"}}')
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("always-fails", line_of(text, "r1"), column_of(text, part))
    assert hint == "every item that reaches it would be rejected; write the value it should have"
    message = check_paths([str(write("policy.yaml", text))]).errors[0].message
    assert message.startswith(f"this part always fails, whatever the item: {reason}")


@pytest.mark.parametrize("expression", [
    "10 / recurrence_90d > 1 and 1 / 2 < 1",
    "recurrence_90d > 0 and recurrence_90d / 0 > 1",  # an earlier part may skip the failing one
    "(recurrence_90d / 0 if recurrence_90d > 100 else 1) == 1",
    "0 < recurrence_90d < 1 / 0",
])
def test_a_part_that_fails_only_for_some_items_is_not_an_error(write, expression: str) -> None:
    text = policy_text(f'- {{id: r1, outcome: initiative, when: "{expression}"}}')
    assert problems_of(write, text) == []


@pytest.mark.parametrize("pattern, accepted", [(r"'^(vpn|dns)\b'", False), (r"'(a)\1'", False),
                                               (r"r'^(vpn|dns)\b'", True), (r"'^(vpn|dns)\\b'", True),
                                               (r"'^INC-\d+$'", True)])
def test_a_pattern_escape_that_quotes_turn_into_a_control_character_is_an_error(write, pattern: str,
                                                                               accepted: bool) -> None:
    # in quotes '\b' is a backspace before the pattern is read: matches() would never find 'vpn x'
    text = policy_text(f"- id: r1\n  outcome: initiative\n  when: matches(title, {pattern})",
                       inputs="inputs:\n  title: string\n")
    problems = problems_of(write, text)
    assert problems == [] if accepted else [p[:3] for p in problems] == [
        ("invalid-regex", line_of(text, "matches"), column_of(text, pattern))]


def test_matches_without_its_regular_expression_package_is_an_error_not_a_traceback(write, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "re2", None)  # as where Rulebook's dependencies are missing
    text = policy_text("- id: r1\n  outcome: initiative\n  when: matches(title, '^x')", inputs="inputs:\n  title: string\n")
    code, _, _, hint = only(problems_of(write, text))
    assert code == "invalid-regex" and hint == "pip install google-re2 (installing Rulebook with pip brings it)"


def test_invalid_input_default(write) -> None:
    inputs = "inputs:\n  risk: {type: string, enum: [low, high], default: medium}\n"
    text = policy_text("- {id: r1, outcome: initiative, when: \"risk == 'high'\"}", inputs=inputs)
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line) == ("invalid-default", line_of(text, "default: medium"))
    assert column == column_of(text, "medium")


def test_a_nested_field_declared_twice(write) -> None:
    # once within its mapping's properties, once with a dotted name: which would items be checked against?
    inputs = "inputs:\n  m: {type: object, properties: {n: integer}}\n  m.n: string\n"
    text = policy_text("- {id: r1, outcome: initiative, when: \"m.n == 'x'\"}", inputs=inputs)
    code, line, column, hint = only(problems_of(write, text))
    assert (code, line, column) == ("duplicate-input", line_of(text, "m.n: string"), 3)
    assert hint == f"it is also declared at line {line_of(text, 'properties')}; keep one of the two"


def test_column_inside_a_block_scalar(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: |
            service_criticality == 'high' and
            recurence_90d >= 10
    """)
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("unknown-name", line_of(text, "recurence_90d >= 10"), column_of(text, "recurence_90d"))


def test_column_inside_a_plain_scalar_written_over_several_lines(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: service_criticality == 'high' and
            recurence_90d >= 10   and
              departments_affected >= 3
    """)
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("unknown-name", line_of(text, "recurence_90d >= 10"), column_of(text, "recurence_90d"))
    commented = text.replace("'high' and", "'high' and  # the critical ones are below").replace(">= 3", ">= 3 # wide")
    assert only(problems_of(write, commented))[1:3] == (line_of(text, "recurence_90d >= 10"), column_of(text, "recurence_90d"))
    with_blank_line = text.replace("'high' and\n", "'high' and\n\n")  # a line break within the value: not shown exactly
    assert only(problems_of(write, with_blank_line))[1:3] == (line_of(text, "when:"), column_of(text, "service_criticality =="))


def test_column_inside_a_single_quoted_scalar_with_escaped_quotes(write) -> None:
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: 'type == ''incident'' and recurence_90d > 1'
    """)
    assert only(problems_of(write, text))[1:3] == (line_of(text, "recurence_90d"), column_of(text, "recurence_90d"))


def test_column_inside_a_quoted_scalar_written_over_several_lines(write) -> None:
    for quote in ['"', "'"]:
        text = policy_text(f"""
            - id: r1
              outcome: initiative
              when: {quote}service_criticality == 'high' and
                recurence_90d >= 10   and
                  departments_affected >= 3{quote}
        """.replace("'high'", "'high'" if quote == '"' else "''high''"))
        assert only(problems_of(write, text))[1:3] == (line_of(text, "recurence_90d"), column_of(text, "recurence_90d"))
    text = policy_text("""
        - id: r1
          outcome: initiative
          when: 'recurrence_90d >= 10 and
            service_criticality == ''hgh'''
    """)
    (problem,) = check_paths([str(write("policy.yaml", text))]).errors
    start = column_of(text, "''hgh''")
    assert (problem.span.line, problem.span.column, problem.span.end_column) == (line_of(text, "hgh"), start, start + 7)
    # an escape in a double-quoted scalar: the scalar's start, where columns cannot be told
    escaped = text.replace("'recurrence_90d", '"recurrence_90d').replace("''hgh'''", "'hgh' and \\t\"")
    assert only(problems_of(write, escaped))[1:3] == (line_of(text, "when:"), column_of(text, "'recurrence_90d"))


def test_all_errors_in_all_files_in_one_run(write) -> None:
    first = write("a/one.yaml", policy_text("- {id: r1, outcome: nope, when: 'recurrence_90d > 1'}"))
    write("a/two.yaml", policy_text("- {id: r1, outcome: initiative, when: 'recurence > 1'}").replace("test-policy", "other"))
    report = check_paths([str(first.parent)])
    assert sorted((d.span.file.rsplit("/", 1)[1], d.code) for d in report.errors) == [
        ("one.yaml", "unknown-outcome"),
        ("two.yaml", "unknown-name"),
    ]


def test_unsupported_format_version(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}").replace("rulebook: 1", "rulebook: 2")
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line, column) == ("invalid-value", 1, 11)


def test_load_raises_policy_error_with_locations(write) -> None:
    path = write("p.yaml", policy_text("- {id: r1, outcome: nope, when: 'recurrence_90d > 1'}"))
    with pytest.raises(PolicyError) as raised:
        engine.load(str(path))
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.span.file == str(path) and diagnostic.span.line == raised.value.span.line
    assert str(path) in str(raised.value)


def test_non_rulebook_yaml_in_a_folder_is_skipped_with_a_warning(write) -> None:
    write("p/policy.yaml", policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}"))
    other = write("p/docker-compose.yaml", "services: {}\n")
    report = check_paths([str(other.parent)])
    assert report.errors == []
    assert [w.code for w in report.warnings] == ["not-a-policy"]


def test_a_misspelt_kind_is_still_read_as_a_policy(write) -> None:
    path = write("p.yaml", policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}")
                 .replace("rulebook: 1\n", "").replace("kind: classification", "kind: clasification"))
    report = check_paths([str(path)])
    assert report.warnings == [] and report.errors != []


def test_version_keeps_the_text_the_author_wrote(write) -> None:
    path = write("p.yaml", policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}").replace('version: "1"', "version: 2026.10"))
    assert engine.load(str(path)).version == "2026.10"


def test_hash_ignores_formatting_and_comments(write) -> None:
    text = policy_text("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}")
    reformatted = "# a comment\n" + text.replace("- {id: r1, outcome: initiative, when: 'recurrence_90d > 1'}",
                                                   "- id: r1\n    when: recurrence_90d > 1\n    outcome: initiative")
    first = engine.load(str(write("a.yaml", text))).sha256
    second = engine.load(str(write("b.yaml", reformatted))).sha256
    changed = engine.load(str(write("c.yaml", text.replace("> 1", "> 2")))).sha256
    assert first == second != changed
    assert len(first) == 64


def test_forms_an_author_may_reasonably_write(write) -> None:
    text = """\
rulebook: 1
kind: classification
name: Demand Intake (draft)
inputs: {x: integer}
outcomes: [low, high]
default: null
rules:
  - id: "R1: big x"
    outcome: high
    when: x > 5
"""
    policy = engine.load(str(write("p.yaml", text)))
    assert policy.classification.outcome_names == ("low", "high")
    assert policy.classification.default is None
    assert policy.classify({"x": 9}).rule == "R1: big x"


def test_outcomes_listed_twice(write) -> None:
    text = policy_text("- {id: r1, outcome: a, when: 'recurrence_90d > 1'}", outcomes="outcomes: [a, b, a]\n", default=None)
    code, line, column, _ = only(problems_of(write, text))
    assert (code, line) == ("invalid-value", line_of(text, "outcomes: [a, b, a]"))
