"""Evaluate stage: hit policies, defaults, missing data, item checks and runtime errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import engine
from engine.errors import ItemError
from engine.evaluate import Rejection
from engine.inputs import read_text_item

from .conftest import policy_text


def load(rules: str, **options) -> engine.Policy:
    return engine.loads(policy_text(rules, **options))


FOUR_RULES = """
- id: big-money
  outcome: portfolio_review
  when: estimated_cost >= 100000
  priority: 1
- id: recurring
  outcome: process_improvement
  when: recurrence_90d >= 3
  priority: 5
- id: very-recurring
  outcome: initiative
  when: recurrence_90d >= 10
  priority: 5
- id: wide
  outcome: initiative
  when: departments_affected >= 3
  priority: 2
"""


def without_priority(rules: str) -> str:
    return "\n".join(line for line in rules.splitlines() if "priority:" not in line)


def test_first_hit_takes_the_first_matching_rule_in_file_order() -> None:
    policy = load(without_priority(FOUR_RULES))
    decision = policy.classify({"id": "A", "recurrence_90d": 12, "estimated_cost": 0})
    assert (decision.outcome, decision.rule, decision.rule_index) == ("process_improvement", "recurring", 2)
    assert decision.because is None


def test_priority_hit_takes_the_highest_priority_and_ties_go_to_the_earlier_rule() -> None:
    policy = load(FOUR_RULES, hit="priority")
    decision = policy.classify({"id": "A", "recurrence_90d": 12, "departments_affected": 4, "estimated_cost": 500000})
    assert decision.rule == "recurring"  # priority 5 beats 2 and 1; 'recurring' is earlier than 'very-recurring'
    decision = policy.classify({"id": "B", "departments_affected": 4, "estimated_cost": 500000})
    assert decision.rule == "wide"


def test_unique_hit_rejects_an_item_that_two_rules_match() -> None:
    policy = load(without_priority(FOUR_RULES), hit="unique")
    assert policy.classify({"recurrence_90d": 4, "estimated_cost": 0}).rule == "recurring"
    with pytest.raises(ItemError, match="'recurring' and 'very-recurring' all match"):
        policy.classify({"recurrence_90d": 12, "estimated_cost": 0})


def test_collect_hit_lists_every_matching_rule_in_order() -> None:
    policy = load(without_priority(FOUR_RULES), hit="collect")
    decision = policy.classify({"id": "C", "recurrence_90d": 12, "departments_affected": 5, "estimated_cost": 0})
    assert decision.outcome == ("process_improvement", "initiative", "initiative")
    assert decision.rule == ("recurring", "very-recurring", "wide")
    decision = policy.classify({"id": "D", "estimated_cost": 0})
    assert decision.outcome == ("routine_ticket",) and decision.rule == (None,)


def test_the_default_applies_when_no_rule_matches() -> None:
    policy = load(without_priority(FOUR_RULES))
    decision = policy.classify({"id": "E", "estimated_cost": 0})
    assert (decision.outcome, decision.rule, decision.rule_index) == ("routine_ticket", None, 0)
    assert decision.trace.default_applied


def test_without_a_default_no_match_is_an_error() -> None:
    policy = load(without_priority(FOUR_RULES), default=None)
    with pytest.raises(ItemError, match="no rule matched"):
        policy.classify({"estimated_cost": 0})


# -- missing data ---------------------------------------------------------------------------------

MISSING_RULES = """
- id: costly
  outcome: initiative
  when: estimated_cost >= 50000
- id: costly-or-recurring
  outcome: process_improvement
  when:
    any:
      - estimated_cost >= 50000
      - recurrence_90d >= 3
- id: costly-and-wide
  outcome: portfolio_review
  when:
    all:
      - estimated_cost >= 50000
      - departments_affected >= 3
- id: not-costly
  outcome: routine_ticket
  when:
    not: estimated_cost >= 50000
"""


def test_a_condition_on_a_missing_field_is_unknown_and_does_not_fire() -> None:
    policy = load(MISSING_RULES)
    decision = policy.classify({"id": "M"}, trace=True)
    assert decision.rule is None  # every rule was unknown or false: the default applies
    results = {rule.rule.id: rule.result for rule in decision.trace.rules}
    assert results == {"costly": "unknown", "costly-or-recurring": "unknown", "costly-and-wide": "false",
                       "not-costly": "unknown"}
    assert decision.trace.missing == ("estimated_cost",)


def test_any_is_true_when_a_known_child_is_true_despite_unknowns() -> None:
    policy = load(MISSING_RULES)
    assert policy.classify({"recurrence_90d": 5}).rule == "costly-or-recurring"


def test_all_is_false_when_a_known_child_is_false_despite_unknowns() -> None:
    policy = load(MISSING_RULES)
    trace = policy.classify({"departments_affected": 1}, trace=True).trace
    assert {r.rule.id: r.result for r in trace.rules}["costly-and-wide"] == "false"


def test_kleene_logic_inside_one_expression() -> None:
    policy = load("""
        - id: r
          outcome: initiative
          when: estimated_cost >= 50000 or recurrence_90d >= 3
    """, default=None)
    assert policy.classify({"recurrence_90d": 3}).rule == "r"
    with pytest.raises(ItemError, match="'estimated_cost' is missing"):
        policy.classify({"recurrence_90d": 0})


def test_defaults_fill_missing_fields() -> None:
    policy = load("- {id: r, outcome: initiative, when: \"service_criticality == 'low' and recurrence_90d == 0\"}")
    decision = policy.classify({"estimated_cost": 1}, trace=True)
    assert decision.rule == "r"
    reads = {f.name: f.source for f in decision.trace.inputs}
    assert reads["service_criticality"] == "default" and reads["estimated_cost"] == "item"


def test_null_counts_as_missing() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d == 0 and not has(estimated_cost)'}")
    assert policy.classify({"recurrence_90d": None, "estimated_cost": None}).rule == "r"


def test_has_tests_whether_the_item_carries_the_field() -> None:
    policy = load("""
        - id: named
          outcome: initiative
          when: has(recurrence_90d)
    """)
    assert policy.classify({"recurrence_90d": 0}).rule == "named"
    assert policy.classify({}).rule is None  # the default value does not count as present


# -- item checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item, message",
    [
        ({"type": "incidnt"}, "'type' is 'incidnt', not one of 'incident', 'request', 'problem', 'change', 'idea' (did you mean 'incident'?)"),
        ({"recurrence_90d": "often"}, "'recurrence_90d' must be a whole number, not 'often'"),
        ({"recurrence_90d": 2.5}, "'recurrence_90d' must be a whole number, not 2.5"),
        ({"recurrence_90d": True}, "'recurrence_90d' must be a whole number, not true"),
        ({"recurrence_90d": -1}, "'recurrence_90d' must be at least 0, not -1"),
        # longer than Python writes an integer: named by its size
        ({"recurrence_90d": -10 ** 5000}, "'recurrence_90d' must be at least 0, not a whole number of about 5,000 digits"),
        ({"estimated_cost": "12"}, "'estimated_cost' must be a number, not '12' (write numbers without quotes)"),
        ({"estimated_cost": float("nan")}, "'estimated_cost' must be a finite number, not nan"),
    ],
)
def test_values_that_do_not_fit_their_input_are_rejected_precisely(item: dict, message: str) -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d > 1'}")
    with pytest.raises(ItemError) as raised:
        policy.classify(item)
    assert raised.value.message == message


def test_every_problem_of_an_item_is_named_at_once() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d > 1'}")
    with pytest.raises(ItemError) as raised:
        policy.classify({"type": "x", "recurrence_90d": "y"})
    assert "'type'" in raised.value.message and "'recurrence_90d'" in raised.value.message


def test_whole_floats_are_accepted_as_integers() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d == 3'}")
    assert policy.classify({"recurrence_90d": 3.0}).rule == "r"


def test_required_fields() -> None:
    inputs = "inputs:\n  type: {type: string, required: true}\n"
    policy = load("- {id: r, outcome: initiative, when: \"type == 'x'\"}", inputs=inputs)
    with pytest.raises(ItemError, match="'type' is required but missing"):
        policy.classify({"id": 1})


def test_undeclared_fields_are_ignored() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d > 1'}")
    assert policy.classify({"recurrence_90d": 2, "assignment_group": ["anything", {"goes": 1}]}).rule == "r"


def test_an_item_must_be_a_mapping() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d > 1'}")
    with pytest.raises(ItemError, match="must be a mapping"):
        policy.classify([1, 2])


def test_an_expression_that_fails_on_the_item_is_an_item_error() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'estimated_cost / recurrence_90d > 10'}")
    assert policy.classify({"estimated_cost": 100, "recurrence_90d": 2}).rule == "r"
    with pytest.raises(ItemError) as raised:
        policy.classify({"estimated_cost": 100, "recurrence_90d": 0})
    assert raised.value.message == "rule 'r': division by zero in 'estimated_cost / recurrence_90d > 10'"


def test_bounded_work_on_item_data_is_an_item_error() -> None:
    inputs = "inputs:\n  title: string\n  n: integer\n"
    policy = load("- {id: r, outcome: initiative, when: 'len(title * n) > 5'}", inputs=inputs)
    assert policy.classify({"title": "ab", "n": 3}).rule == "r"
    with pytest.raises(ItemError, match="limit"):
        policy.classify({"title": "ab", "n": 10**9})


# -- types of inputs -------------------------------------------------------------------------------------


def test_nested_fields_with_dots() -> None:
    inputs = (
        "inputs:\n"
        "  service.criticality: {type: string, enum: [low, high]}\n"
        "  owner: {type: object, properties: {team: string}}\n"
        "  extra: object\n"
    )
    policy = load("""
        - id: r
          outcome: initiative
          when: "service.criticality == 'high' and owner.team == 'ops' and extra.flag == True"
    """, inputs=inputs)
    item = {"service": {"criticality": "high"}, "owner": {"team": "ops"}, "extra": {"flag": True}}
    assert policy.classify(item).rule == "r"
    flat = {"service.criticality": "high", "owner": {"team": "ops"}, "extra": {"flag": True}}
    assert policy.classify(flat).rule == "r"
    trace = policy.classify({"service": {"criticality": "high"}, "owner": {"team": "ops"}, "extra": {}}, trace=True).trace
    assert trace.rules[0].result == "unknown"


def test_dates_and_days_between() -> None:
    inputs = "inputs:\n  opened: date\n  closed: {type: datetime}\n"
    policy = load("""
        - id: slow
          outcome: process_improvement
          when: days_between(opened, closed) > 30 and opened >= '2026-01-01'
    """, inputs=inputs)
    assert policy.classify({"opened": "2026-01-01", "closed": "2026-03-01T12:00:00Z"}).rule == "slow"
    assert policy.classify({"opened": "2026-01-01", "closed": "2026-01-05T00:00:00+02:00"}).rule is None
    with pytest.raises(ItemError, match="must be a date like '2026-11-22'"):
        policy.classify({"opened": "01/01/2026", "closed": "2026-03-01T12:00:00Z"})


AGE_INPUTS = "inputs:\n  opened: date\n  seen: datetime\n"
AGE_RULES = """
    - id: stale
      outcome: process_improvement
      when: days_since(opened) > 30
    - id: recent
      outcome: initiative
      when: days_since(seen) < 0.5
"""


def test_days_since_counts_days_to_the_as_of_date_as_days_between_does() -> None:
    as_of = dt.date(2026, 12, 2)
    policy = engine.loads(policy_text(AGE_RULES, inputs=AGE_INPUTS), as_of=as_of)
    assert policy.classify({"opened": "2026-11-01"}).rule == "stale"  # 31 days
    assert policy.classify({"opened": "2026-11-02"}).rule is None  # 30 days
    assert policy.classify({"opened": "2026-12-05"}).rule is None  # a date after it: negative
    assert policy.classify({"seen": "2026-12-01T13:00:00Z"}).rule == "recent"  # 11 hours before midnight
    assert policy.classify({"seen": "2026-12-01T11:00:00Z"}).rule is None
    for opened in ("2026-11-01", "2026-11-02", "2026-12-05"):
        assert policy.classify({"opened": opened}).rule == policy.decide({"opened": opened}).rule
    # counted to a moment, a date is midnight UTC, as days_between() counts
    noon = engine.loads(policy_text(AGE_RULES, inputs=AGE_INPUTS), as_of=dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC))
    assert noon.classify({"seen": "2026-12-01T13:00:00Z"}).rule is None  # 23 hours
    assert noon.classify({"opened": "2026-11-02"}).rule == "stale"  # 30.5 days
    with pytest.raises(ItemError, match="must be a date like '2026-11-22'"):
        policy.classify({"opened": "yesterday"})


def test_decisions_of_a_policy_that_calls_days_since_name_the_as_of_date() -> None:
    dated = engine.loads(policy_text(AGE_RULES, inputs=AGE_INPUTS), as_of=dt.date(2026, 12, 2))
    decision = dated.classify({"id": "A", "opened": "2026-01-01"})
    assert decision.policy.as_of == dt.date(2026, 12, 2)
    assert decision.policy.as_record()["as_of"] == "2026-12-02"
    assert "as of 2026-12-02" in decision.explain()
    # the days counted are shown beside the value they were counted from, to the as-of date
    assert "(opened = 2026-01-01; days_since(opened) = 335; as of 2026-12-02)" in decision.explain()
    recent = dated.classify({"id": "B", "seen": "2026-12-01T18:00:00Z"}).explain()
    assert "(seen = 2026-12-01T18:00:00+00:00; days_since(seen) = 0.25; as of 2026-12-02)" in recent
    assert "(opened = 2026-01-01; days_since(opened) = 335; as of 2026-12-02)" in dated.classify(
        {"id": "C", "opened": "2026-01-01", "seen": "2026-12-01T18:00:00Z"}).explain("markdown")
    # by default the date of loading, in UTC
    assert engine.loads(policy_text(AGE_RULES, inputs=AGE_INPUTS)).as_of == dt.datetime.now(dt.UTC).date()
    # or given as its ISO text, as the command line takes it
    texted = engine.loads(policy_text(AGE_RULES, inputs=AGE_INPUTS), as_of="2026-12-02T12:00:00Z")
    assert texted.as_of == dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    assert texted.classify({"opened": "2026-01-01"}).policy.as_record()["as_of"] == "2026-12-02T12:00:00+00:00"
    with pytest.raises(ValueError, match="as_of must be a date, a date-time or its ISO text"):
        engine.loads(policy_text(AGE_RULES, inputs=AGE_INPUTS), as_of="2 December")
    # a policy that never calls it decides the same on any day, and its records say nothing of dates
    undated = load("- {id: r, outcome: initiative, when: recurrence_90d > 3}")
    assert undated.classify({"id": "A"}).policy.as_of is None
    assert "as_of" not in undated.classify({"id": "A"}).policy.as_record()


def test_arrays_of_enum_values() -> None:
    inputs = "inputs:\n  tags: {type: array, items: {type: string, enum: [vip, legacy]}}\n"
    policy = load("- {id: r, outcome: initiative, when: \"'vip' in tags and len(tags) == 2\"}", inputs=inputs)
    assert policy.classify({"tags": ["legacy", "vip"]}).rule == "r"
    with pytest.raises(ItemError, match="item 2 is 'vpi'"):
        policy.classify({"tags": ["vip", "vpi"]})


def test_csv_cells_are_read_as_the_declared_types() -> None:
    inputs = (
        "inputs:\n  n: integer\n  x: number\n  ok: boolean\n  tags: {type: array, items: string}\n  on: date\n  note: string\n"
    )
    policy = load("- {id: r, outcome: initiative, when: \"n == 3 and x > 2.5 and ok and 'b' in tags and on.__len__\"}".replace(" and on.__len__", ""), inputs=inputs)
    specs = policy.classification.inputs
    item = read_text_item({"id": "7", "n": "3", "x": "2.75", "ok": "yes", "tags": "a; b", "on": "2026-01-02", "note": ""}, specs)
    assert item == {"id": "7", "n": 3, "x": 2.75, "ok": True, "tags": ["a", "b"], "on": "2026-01-02"}
    assert policy.classify(item).rule == "r"
    bad = read_text_item({"n": "three"}, specs)
    with pytest.raises(ItemError, match="'n' must be a whole number, not 'three'"):
        policy.classify(bad)
    for cells in ({"n": "1e400"}, {"x": "-1e999"}):  # too large for a float: named as written, no hint about quotes
        with pytest.raises(ItemError) as raised:
            policy.classify(read_text_item(cells, specs))
        assert raised.value.message.endswith(f"not '{next(iter(cells.values()))}'")


def test_classify_all_gives_one_record_per_item_in_order() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d > 1'}")
    results = list(policy.classify_all([{"id": 1, "recurrence_90d": 2}, {"id": 2, "recurrence_90d": "x"}, {"id": 3}]))
    assert [type(r).__name__ for r in results] == ["Decision", "Rejection", "Decision"]
    assert isinstance(results[1], Rejection) and (results[1].item_id, results[1].line) == (2, 2)
    assert [r.item_id for r in results] == [1, 2, 3]


def test_decide_returns_the_shared_verdict() -> None:
    policy = load("- {id: r, outcome: initiative, when: 'recurrence_90d > 1', because: It recurs.}")
    first = policy.decide({"recurrence_90d": 2})
    assert first is policy.decide({"recurrence_90d": 3})
    assert (first.outcome, first.rule, first.because, first.rule_index) == ("initiative", "r", "It recurs.", 1)


def test_verdicts_and_decisions_unpack_as_outcome_and_rule() -> None:
    policy = load(without_priority(FOUR_RULES))
    item = {"id": "A", "recurrence_90d": 12, "estimated_cost": 0}
    outcome, rule = policy.decide(item)
    assert (outcome, rule) == ("process_improvement", "recurring")
    decision = policy.classify(item, trace=True)
    assert tuple(decision) == (decision[0], decision[1]) == ("process_improvement", "recurring")
    assert tuple(policy.decide({"id": "B", "estimated_cost": 0})) == ("routine_ticket", None)  # the default: no rule


@pytest.mark.parametrize("hit", ["first", "priority", "unique", "collect"])
def test_decide_many_gives_what_decide_gives_item_by_item(hit: str) -> None:
    policy = load(FOUR_RULES if hit == "priority" else without_priority(FOUR_RULES), hit=hit, default=None)
    items = [{"id": 1, "recurrence_90d": 12, "estimated_cost": 0}, {"id": 2, "estimated_cost": 0},
             {"id": 3, "recurrence_90d": "x"}, {"id": 4, "recurrence_90d": 4, "departments_affected": 5, "estimated_cost": 1},
             {"id": 5}, {"id": 6, "recurrence_90d": 4, "estimated_cost": 10**6}]
    batch = policy.decide_many(items)
    assert len(batch) == len(items)
    for item, result in zip(items, batch):
        try:
            assert result is policy.decide(item)
        except ItemError as error:
            assert isinstance(result, Rejection) and result.error == error.message and result.item_id == item["id"]


def test_a_regular_expression_takes_linear_time_whatever_the_pattern() -> None:
    # (a+)+$ over 'aaa...!' takes a backtracking engine 2^n steps: this would never finish
    policy = load("""
    - {id: nested, outcome: initiative, when: "matches(title, '(a+)+$') or matches(title, '(\\\\w|\\\\d)+$')"}
    """, inputs="inputs:\n  title: string\n")
    item = {"id": "R", "title": "a" * 50_000 + "!"}
    assert policy.classify(item).rule is None
    assert policy.decide(item).rule is None and policy.decide_many([item])[0].rule is None
    assert policy.classify(item, trace=True).trace.default_applied
    assert policy.classify({"title": "aaaa"}).rule == "nested"


def test_regular_expressions_read_classes_as_ascii_and_unicode_properties_for_every_script() -> None:
    policy = load("""
    - {id: ascii-digit, outcome: initiative, when: "matches(code, '^[A-Z]+-\\\\d+$')"}
    - {id: any-letters, outcome: process_improvement, when: "matches(code, '^\\\\p{L}+$')"}
    """, inputs="inputs:\n  code: string\n")
    assert [policy.decide({"code": code}).rule for code in ("INC-42", "INC-\u0664\u0662", "Caf\u00e9", "INC-42\n")] == [
        "ascii-digit", None, "any-letters", None]


@pytest.mark.parametrize("builder_depth", [40, 2])
def test_a_trace_is_the_same_whether_its_builder_writes_the_tree_out_or_walks_it(builder_depth: int,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # a tree deeper than the builder writes out is walked
    from engine import evaluate
    from engine.evaluate import _Fields, trace_builder

    monkeypatch.setattr(evaluate, "_BUILDER_DEPTH", builder_depth)
    when: object = "recurrence_90d > 1 and has(recurrence_90d)"
    for _ in range(3):
        when = {"not": {"not": when}}
    policy = load(f"- {{id: deep, outcome: initiative, when: {json.dumps(when)}}}")
    classifier = policy.classifier
    assert (trace_builder(classifier.order) is None) == (builder_depth < 7)
    for item in ({"recurrence_90d": 3}, {"recurrence_90d": 0}, {}):
        decision = policy.classify(item, trace=True)
        _, nodes, checked = classifier.careful(item)
        walked = classifier._traced_by_walking(nodes, _Fields(checked), "first", decision.verdict.is_default,
                                               classifier._input_names)
        assert decision.trace == walked


@pytest.mark.parametrize("when", ["max([recurrence_90d, 1]) > 1", "min([recurrence_90d, 5]) < 2"])
def test_min_or_max_of_a_list_holding_a_missing_field_is_unknown(when: str) -> None:
    policy = load(f"- {{id: r, outcome: initiative, when: \"{when}\"}}",
                  inputs="inputs:\n  recurrence_90d: integer\n")
    decision = policy.classify({}, trace=True)
    assert decision.rule is None and decision.trace.rules[0].result == "unknown"
