"""Compare stage: what replacing one policy with another does to the same items."""

from __future__ import annotations

import collections
import io
import json

import pytest

import engine
from engine import compare
from engine.compare import Example, RuleCount, Transition, diff_records
from engine.items import read_items

from .conftest import EXAMPLES, POLICIES, policy_text

RULES = """
- id: big
  outcome: initiative
  when: estimated_cost >= 1000
- id: recurring
  outcome: process_improvement
  when: recurrence_90d >= 3
"""
# the same policy with the recurrence threshold raised and a rule for wide impact added
NEXT_RULES = """
- id: big
  outcome: initiative
  when: estimated_cost >= 1000
- id: wide
  outcome: initiative
  when: departments_affected >= 4
- id: recurring
  outcome: process_improvement
  when: recurrence_90d >= 5
"""
ITEMS = [
    {"id": "A", "recurrence_90d": 3},                              # process_improvement -> routine_ticket
    {"id": "B", "recurrence_90d": 4},                              # process_improvement -> routine_ticket
    {"id": "C", "recurrence_90d": 6},                              # process_improvement, both
    {"id": "D", "recurrence_90d": 6, "departments_affected": 5},   # process_improvement -> initiative
    {"id": "E", "estimated_cost": 5000, "departments_affected": 5},  # initiative, by 'big' both times
    {"id": "F"},                                                   # routine_ticket, both
    {"id": "G", "recurrence_90d": 4},                              # process_improvement -> routine_ticket
]


def policies(old_rules: str = RULES, new_rules: str = NEXT_RULES, **options: str) -> tuple[engine.Policy, engine.Policy]:
    return engine.loads(policy_text(old_rules, **options)), engine.loads(policy_text(new_rules, **options))


def test_counts_changed_items_and_the_from_to_cells() -> None:
    result = engine.diff(*policies(), ITEMS)
    assert (result.items, result.changed, result.rule_changed) == (7, 4, 0)
    assert result.transitions == (
        Transition("process_improvement", "routine_ticket", 3, (Example("A", 1), Example("B", 2), Example("G", 7))),
        Transition("process_improvement", "initiative", 1, (Example("D", 4),)),
    )
    assert [(t.old, t.new, t.count) for t in result.unchanged] == [
        ("routine_ticket", "routine_ticket", 1), ("process_improvement", "process_improvement", 1),
        ("initiative", "initiative", 1)]
    counts = {o.outcome: (o.old, o.new, o.delta) for o in result.outcomes}
    assert counts == {"routine_ticket": (1, 4, 3), "process_improvement": (5, 1, -4), "initiative": (1, 2, 1),
                      "portfolio_review": (0, 0, 0)}


def test_examples_are_the_first_items_of_each_cell_up_to_the_limit() -> None:
    old, new = policies()
    assert [e.id for e in engine.diff(old, new, ITEMS, examples=2).transitions[0].examples] == ["A", "B"]
    assert engine.diff(old, new, ITEMS, examples=0).transitions[0].examples == ()
    items = [{"key": f"K{n}", "recurrence_90d": 3} for n in range(5)]
    (transition,) = engine.diff(old, new, items, id_field="key", examples=3).transitions
    assert transition.count == 5 and [e.id for e in transition.examples] == ["K0", "K1", "K2"]


def test_rule_firing_counts_that_changed_including_added_rules_and_the_default() -> None:
    result = engine.diff(*policies(), ITEMS)
    assert result.rules == (
        RuleCount("recurring", 5, 1),
        RuleCount(None, 1, 4),           # the default
        RuleCount("wide", None, 1),      # only in the new policy
    )
    assert [(r.status, r.delta) for r in result.rules] == [("changed", -4), ("changed", 3), ("added", 1)]
    (removed,) = [r for r in engine.diff(*policies(NEXT_RULES, RULES), ITEMS).rules if r.rule == "wide"]
    assert (removed.old, removed.new, removed.status, removed.delta) == (1, None, "removed", -1)


def test_a_rule_that_fires_for_other_items_keeps_its_count_out_of_the_rules_list() -> None:
    old_rules = "- {id: r, outcome: initiative, when: 'recurrence_90d == 1'}"
    new_rules = "- {id: r, outcome: initiative, when: 'recurrence_90d == 2'}"
    result = engine.diff(*policies(old_rules, new_rules), [{"recurrence_90d": 1}, {"recurrence_90d": 2}])
    assert result.changed == 2 and result.rules == ()


def test_same_outcome_under_another_rule_is_not_a_change_but_is_counted() -> None:
    old_rules = "- {id: costly, outcome: initiative, when: 'estimated_cost >= 10'}"
    new_rules = ("- {id: wide, outcome: initiative, when: 'departments_affected >= 2'}\n"
                 "- {id: costly, outcome: initiative, when: 'estimated_cost >= 10'}")
    result = engine.diff(*policies(old_rules, new_rules), [{"estimated_cost": 20, "departments_affected": 3}])
    assert (result.changed, result.rule_changed, result.transitions) == (0, 1, ())
    assert [(r.rule, r.old, r.new) for r in result.rules] == [("costly", 1, 0), ("wide", None, 1)]


INPUTS_WITH_A_REQUIRED_TYPE = """\
inputs:
  type: {type: string, enum: [incident, request, problem, change, idea], required: true}
  service_criticality: {type: string, enum: [low, medium, high, critical], default: low}
  recurrence_90d: {type: integer, minimum: 0, default: 0}
  departments_affected: {type: integer, minimum: 1, default: 1}
  estimated_cost: {type: number, minimum: 0}
"""


def test_items_that_become_errors_and_errors_that_are_fixed() -> None:
    lenient = engine.loads(policy_text(RULES))
    strict = engine.loads(policy_text(RULES, inputs=INPUTS_WITH_A_REQUIRED_TYPE))
    items = [{"id": "A", "recurrence_90d": 4}, {"id": "B", "type": "incident"}, {"id": "C", "recurrence_90d": -1},
             {"id": "D"}]
    result = engine.diff(lenient, strict, items)
    assert (result.changed, result.new_errors, result.fixed_errors, result.still_errors) == (2, 2, 0, 1)
    assert [(t.old, t.new, t.count) for t in result.transitions] == [  # ties in the policy's outcome order
        ("routine_ticket", None, 1), ("process_improvement", None, 1)]
    first = result.new_error_examples[0]
    assert (first.item, first.other) == (Example("A", 1), "process_improvement")
    assert first.error == "'type' is required but missing"
    (both,) = result.still_error_examples
    assert both.item == Example("C", 3) and "recurrence_90d" in both.error
    assert (result.errors_old, result.errors_new) == (1, 3)

    back = engine.diff(strict, lenient, items)
    assert (back.changed, back.new_errors, back.fixed_errors) == (2, 0, 2)
    assert [(e.item.id, e.other) for e in back.fixed_error_examples] == [("A", "process_improvement"), ("D", "routine_ticket")]


def test_collect_compares_outcome_lists() -> None:
    old_rules = """
    - {id: costly, outcome: initiative, when: 'estimated_cost >= 10'}
    - {id: recurring, outcome: process_improvement, when: 'recurrence_90d >= 3'}
    """
    new_rules = """
    - {id: costly, outcome: initiative, when: 'estimated_cost >= 10'}
    - {id: recurring, outcome: process_improvement, when: 'recurrence_90d >= 5'}
    """
    items = [{"id": "A", "estimated_cost": 20, "recurrence_90d": 4}, {"id": "B", "estimated_cost": 20,
                                                                       "recurrence_90d": 6}]
    result = engine.diff(*policies(old_rules, new_rules, hit="collect"), items)
    assert [(t.old, t.new, t.count) for t in result.transitions] == [
        (("initiative", "process_improvement"), ("initiative",), 1)]
    assert [(t.old, t.count) for t in result.unchanged] == [(("initiative", "process_improvement"), 1)]
    assert [(r.rule, r.old, r.new) for r in result.rules] == [("recurring", 2, 1)]
    counts = {o.outcome: (o.old, o.new) for o in result.outcomes}
    assert counts["initiative"] == (2, 2) and counts["process_improvement"] == (2, 1)


def test_one_outcome_equals_a_list_of_just_that_outcome() -> None:
    first, collect = policies(RULES, RULES), engine.loads(policy_text(RULES, hit="collect"))
    result = engine.diff(first[0], collect, ITEMS)
    assert result.changed == 0 and result.rules == ()
    assert result.rule_changed == 0  # the default, or one rule, is the same under either hit policy


def test_records_that_cannot_be_read_are_errors_under_both_in_input_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare, "BATCH", 2)  # the unreadable lines fall inside and between batches
    text = b'{"id": "A", "recurrence_90d": 3}\nnot json\n{"id": "C", "recurrence_90d": "x"}\n{"id": "D"}\n[1,\n'
    result = diff_records(*policies(), read_items(io.BytesIO(text), "jsonl"))
    assert (result.items, result.changed, result.still_errors) == (5, 1, 3)
    assert [(e.item.line, e.item.id) for e in result.still_error_examples] == [(2, None), (3, "C"), (5, None)]
    assert "not JSON" in result.still_error_examples[0].error


def test_csv_cells_are_read_as_each_policy_declares_them() -> None:
    as_text = "inputs:\n  code: {type: string}\n"
    as_number = "inputs:\n  code: {type: integer}\n"
    old = engine.loads(policy_text("- {id: seven, outcome: initiative, when: \"code == '7'\"}", inputs=as_text))
    new = engine.loads(policy_text("- {id: big, outcome: initiative, when: 'code >= 5'}", inputs=as_number))
    records = read_items(io.BytesIO(b"id,code\nA,7\nB,3\n"), "csv")
    result = diff_records(old, new, records)
    assert result.changed == 0 and result.errors_new == 0
    assert [(r.rule, r.old, r.new) for r in result.rules] == [("seven", 1, None), ("big", None, 1)]


def test_the_table_agrees_with_classifying_both_versions_directly() -> None:
    items = [json.loads(line) for line in (EXAMPLES / "items.jsonl").read_text().splitlines()]
    items += [{"id": "BAD", "type": "bogus"}, {"id": "LOW", "type": "problem", "recurrence_90d": 3,
                                                "service_criticality": "high"}]
    old, new = engine.load(str(POLICIES)), engine.load(str(EXAMPLES / "demand-intake-next.yaml"))
    result = engine.diff(old, new, items)

    def outcomes(policy: engine.Policy) -> list[object]:
        return [getattr(r, "outcome", None) for r in policy.classify_all(items)]

    def rules(policy: engine.Policy) -> collections.Counter[object]:
        return collections.Counter(r.rule for r in policy.classify_all(items) if not isinstance(r, engine.Rejection))

    pairs = collections.Counter(zip(outcomes(old), outcomes(new)))
    assert {(t.old, t.new): t.count for t in result.transitions} == {p: n for p, n in pairs.items() if p[0] != p[1]}
    assert {t.old: t.count for t in result.unchanged} == {p[0]: n for p, n in pairs.items() if p[0] == p[1] and p[0]}
    assert result.changed == sum(n for p, n in pairs.items() if p[0] != p[1]) > 0
    before, after = rules(old), rules(new)
    assert {r.rule: (r.old or 0, r.new or 0) for r in result.rules} == {
        rule: (before[rule], after[rule]) for rule in set(before) | set(after) if before[rule] != after[rule]
    } | {"high-risk-critical-service": (0, after["high-risk-critical-service"])}
