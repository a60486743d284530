"""Compile stage: the generated fast form agrees with the interpreter, and is built only from
checked nodes; attempts to smuggle anything else through are refused."""

from __future__ import annotations

import datetime as dt
import io
import keyword
import re
import tokenize
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import engine
from engine.compile import Bail
from engine.errors import ItemError, PolicyError
from engine.evaluate import Classifier, _Fields

INPUTS = """\
inputs:
  kind: {type: string, enum: [incident, request, problem]}
  level: {type: string, enum: [low, high, critical], default: low}
  count: {type: integer, minimum: 0}
  cost: {type: number, default: 0}
  funded: boolean
  title: string
  tags: {type: array, items: {type: string, enum: [vip, legacy]}}
  opened: date
  meta: object
  ticket: {type: string, required: true}
"""
HEADER = "rulebook: 1\nkind: classification\nname: generated\n" + INPUTS + "outcomes: {a: A, b: B, c: C}\n"


def policy_with(conditions: list[Any], hit: str = "first", default: bool = True, as_of: Any = None) -> engine.Policy:
    rules = "".join(
        f"  - id: r{i}\n    outcome: {'abc'[i % 3]}\n    when: {condition!r}\n" + (f"    priority: {i % 3}\n" if hit == "priority" else "")
        for i, condition in enumerate(conditions, start=1)
    )
    text = HEADER + f"hit: {hit}\n" + ("default: a\n" if default else "") + "rules:\n" + rules
    return engine.loads(text.replace("'", "'"), as_of=as_of)


# -- random expressions over the inputs above ------------------------------------------------------------

numbers = st.sampled_from(["count", "cost", "0", "1", "2", "3", "2.5", "-1", "10", "len(title)", "len(tags)"])


def number_expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        numbers,
        lambda inner: st.one_of(
            st.builds("({} {} {})".format, inner, st.sampled_from(["+", "-", "*", "/", "//", "%"]), inner),
            st.builds("abs({})".format, inner),
            st.builds("min({}, {})".format, inner, inner),
            st.builds("round({})".format, inner),
            st.builds("({} ** {})".format, inner, st.sampled_from(["2", "0", "-1"])),
        ),
        max_leaves=4,
    )


atoms = st.one_of(
    st.builds("({} {} {})".format, number_expressions(), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), number_expressions()),
    st.builds("({} < {} <= {})".format, number_expressions(), number_expressions(), number_expressions()),
    st.sampled_from([
        "kind == 'incident'", "kind != 'problem'", "level in ['high', 'critical']", "level not in ['low']",
        "funded", "not funded", "has(count)", "has(meta.flag)", "has(cost)", "has(title)", "'vip' in tags", "'legacy' not in tags",
        "lower(title) == 'vpn'", "matches(title, '^V')", "'PN' in title", "opened < '2026-01-01'",
        "days_between(opened, '2026-06-01') > 90", "meta.flag == True", "meta.size > 2", "tags[0] == 'vip'",
        "upper(title) in ['VPN', 'EMAIL']", "(cost if funded else count) > 1", "len(meta.name) > 1",
        # lists of constants, looked up in a frozenset: numbers whole and not, dates, texts
        "cost in [0, 2.5, 3, 10]", "count not in [0, 1.0, 3]", "len(tags) in [1, 2]", "title in ['VPN', 'vpn', '']",
        "opened in ['2025-12-31', '2026-02-01']", "count + 1 in [1, 4]",
        "days_since(opened) > 60", "days_since(opened) < days_since('2026-01-01')",
        "max([count, 2]) > 2", "min([cost, count, 3]) < 2",
        # reads a has() guards, which the generated code need not test for absence
        "(count if has(count) else 5) > 2", "(has(count) and count > 3)", "(not has(title) or len(title) > 1)",
        "(meta.size if has(meta.size) else 0) > 2", "(title if has(title) else 'VPN') == 'VPN'",
        "(level if has(level) else 'high') == 'high'", "(not (has(opened) and has(count)) or days_since(opened) > count)",
        "(1 if has(count) else count) != 1", "(has(count) or count != 1)", "(has(title) and title != 'VPN')",
    ]),
)


def conditions() -> st.SearchStrategy[str]:
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.builds("({} and {})".format, inner, inner),
            st.builds("({} or {})".format, inner, inner),
            st.builds("(not {})".format, inner),
        ),
        max_leaves=5,
    )


def condition_trees() -> st.SearchStrategy[Any]:
    """A rule's `when`: an expression, or all:, any: and not: of them (a has() in one part may
    guard a read in the next)."""
    guarded = st.sampled_from([{"all": ["has(count)", "count > 3"]}, {"any": ["not has(title)", "len(title) > 2"]},
                               {"all": [{"not": "not has(meta.size)"}, "meta.size > 1"]},
                               {"any": [{"all": ["has(count)", "has(opened)"]}, "count > 1"]}])
    return st.recursive(
        conditions() | guarded,
        lambda inner: st.one_of(
            st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda part: {"not": part}, inner),
        ),
        max_leaves=3,
    )


# -- random items, often broken ------------------------------------------------------------------------------

ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=4),
                     st.lists(st.sampled_from(["vip", "legacy", "x"]), max_size=3))
VALID = {
    "kind": st.sampled_from(["incident", "request", "problem"]),
    "level": st.sampled_from(["low", "high", "critical"]),
    "count": st.integers(0, 12),
    "cost": st.one_of(st.integers(0, 5), st.floats(0, 1e6, allow_nan=False)),
    "funded": st.booleans(),
    "title": st.sampled_from(["VPN", "vpn", "Email", "", "V"]),
    "tags": st.lists(st.sampled_from(["vip", "legacy"]), max_size=3),
    "opened": st.sampled_from(["2025-12-31", "2026-03-01"]),
    "meta": st.one_of(st.just({}), st.just({"flag": True, "size": 3, "name": "VPN"}), st.just({"flag": False, "size": 0}),
                      st.just({"name": 7})),  # an undeclared field may hold anything: len() of it fails
    "ticket": st.sampled_from(["T-1", "T-2"]),  # required, and no rule reads it
}
DUBIOUS = {
    "kind": st.just("incidnt"),
    "level": st.just("LOW"),
    "count": st.one_of(st.just(-1), st.just(3.0), st.just(True)),
    "cost": st.one_of(st.just(float("inf")), st.just(-1.0), st.just("5")),
    "opened": st.just("2026-13-01"),
    "meta": st.one_of(st.just({"flag": "yes"}), st.just({"size": "x"})),
}


@st.composite
def items(draw: Any) -> dict[str, Any]:
    """Clean items (every field valid), items with fields missing, and messy ones."""
    mode = draw(st.sampled_from(["clean", "clean", "missing", "messy"]))
    item: dict[str, Any] = {"id": draw(st.integers(0, 10**6))}
    for name, values in VALID.items():
        choice = "value" if mode == "clean" else draw(st.sampled_from(["value", "value", "absent"] + (["odd", "odd"] if mode == "messy" else [])))
        if choice == "value":
            item[name] = draw(values)
        elif choice == "odd":
            item[name] = draw(DUBIOUS.get(name, ANYTHING) | ANYTHING)
    return item


# days_since() counts to a date, or to a moment (then in fractions of a day)
AS_OF = [dt.date(2026, 3, 1), dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)]


def careful(classifier: Classifier, item: dict[str, Any]) -> tuple[Any, Any, Any]:
    try:
        result, nodes, checked = classifier.careful(item)
        return result, tuple(nodes), checked
    except ItemError as error:
        return "error", error.message, None


def check_agreement(classifier: Classifier, item: dict[str, Any]) -> None:
    expected_result, expected_nodes, checked = careful(classifier, item)
    if expected_result != "error":  # the trace written out is the trace walked
        try:
            verdict = classifier.verdict(expected_result)
        except ItemError:  # `unique` rules that both match
            verdict = None
        if verdict is not None:
            walked = classifier._traced_by_walking(expected_nodes, _Fields(checked), classifier.policy.hit,
                                                   verdict.is_default, classifier._input_names)
            assert classifier.build_trace(verdict, item, (expected_result, expected_nodes, checked)) == walked, item
    try:
        fast = classifier.forms.decide(item)
    except Exception:
        fast = None  # declined: the careful path decides, nothing to compare
    if fast is not None:
        assert expected_result != "error", (item, expected_nodes)
        assert fast == expected_result, item
    for traced in (classifier.forms.decide_traced, classifier.forms.decide_traced_tolerant):
        try:
            recorded = traced(item)  # type: ignore[misc]  # None: the policy has no tolerant form
        except Exception:
            continue
        assert expected_result != "error", (item, expected_nodes)
        nodes, values = classifier.unpack(item, recorded)
        assert (recorded.verdict, tuple(nodes)) == (classifier.verdict(expected_result), expected_nodes), item
        assert values == checked, item


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions=st.lists(condition_trees(), min_size=1, max_size=4), hit=st.sampled_from(["first", "priority", "unique", "collect"]),
       samples=st.lists(items(), min_size=1, max_size=8), as_of=st.sampled_from(AS_OF))
def test_fast_form_agrees_with_the_interpreter(conditions: list[Any], hit: str, samples: list[dict[str, Any]],
                                               as_of: dt.date) -> None:
    try:
        policy = policy_with(conditions, hit, as_of=as_of)
    except PolicyError:
        assume(False)  # e.g. an expression that type-checks to something other than a condition
        return
    classifier = policy.classifier
    for item in samples:
        check_agreement(classifier, item)
    for item, batched in zip(samples, classifier.decide_many(samples)):
        try:
            expected = classifier.verdict(classifier.careful(item)[0])
        except ItemError as error:
            assert batched.error == error.message, item
            with pytest.raises(ItemError):
                classifier.decide(item)
        else:
            assert batched is expected and classifier.decide(item) is expected, item


NESTED = """\
rulebook: 1
kind: classification
name: nested
inputs:
  impact: object
  impact.users: {type: integer, minimum: 0, default: 0}
  impact.level: {type: string, enum: [minor, major], default: minor}
  service.name: string
  service.owner.team: string
  service.tier: integer
  labels: {type: array, items: {type: string}}
  counts: {type: array, items: {type: integer}, default: []}
outcomes: {a: A, b: B}
default: a
hit: collect
rules:
  - {id: r1, outcome: b, when: "impact.users >= 10 and impact.level == 'major'"}
  - {id: r2, outcome: b, when: "service.name == 'payments'"}
  - {id: r3, outcome: b, when: "service.owner.team == 'ops' or 'x' in labels"}
  - {id: r4, outcome: b, when: "len(counts) > 1 and len(labels) < 2"}
  - {id: r5, outcome: a, when: "(service.tier if has(service.tier) else 4) == 4"}
  - {id: r6, outcome: b, when: "not has(service.tier) or has(labels) and service.tier > 2"}
"""
odd_values = st.one_of(st.none(), st.booleans(), st.just(3.0), st.just("12"), st.just([1]), st.just({}))
mappings = st.fixed_dictionaries({}, optional={"users": st.one_of(st.integers(-1, 20), odd_values),
                                               "level": st.one_of(st.sampled_from(["minor", "major", "MAJOR"]), odd_values),
                                               "name": st.one_of(st.sampled_from(["payments", "wiki"]), odd_values),
                                               "tier": st.one_of(st.integers(1, 4), odd_values),
                                               "owner": st.one_of(st.fixed_dictionaries({}, optional={"team": st.sampled_from(["ops", "dev"])}), odd_values)})
nested_items = st.fixed_dictionaries({}, optional={
    "impact": st.one_of(mappings, odd_values), "service": st.one_of(mappings, odd_values),
    "impact.users": st.one_of(st.integers(0, 20), odd_values), "service.name": st.sampled_from(["payments", None]),
    "labels": st.one_of(st.lists(st.one_of(st.sampled_from(["x", "y"]), odd_values), max_size=3), odd_values),
    "counts": st.one_of(st.lists(st.one_of(st.integers(0, 3), st.just(2.0), st.just(True)), max_size=3), odd_values),
})


@settings(max_examples=300, deadline=None)
@given(item=nested_items)
@example(item={"impact": {"level": "major"}, "impact.users": 12, "service.name": "payments", "counts": [1, 2]})
@example(item={"impact": {"users": 12, "level": "major"}, "service": {"name": None, "owner": {"team": "ops"}}, "labels": ["x"]})
@example(item={"labels": ["x", None]})
@example(item={"service": {"name": "wiki", "owner": {"team": "ops"}}, "labels": ["x"]})  # no tier: a has() says so
@example(item={"impact": {"users": None, "level": "major"}, "impact.users": 12, "service": "x", "service.name": "payments"})
@example(item={"impact": {"users": 12.0}, "service": [], "counts": [True, 2]})
def test_nested_fields_lists_and_mappings_read_in_the_fast_form_as_the_checker_reads_them(item: dict[str, Any]) -> None:
    # the fast form reads nested fields straight through their mappings and checks lists and
    # mappings inline; a field missing or null on the way, a flat key written with dots, a
    # float among whole numbers: every such item must come out as the careful path says
    classifier = engine.loads(NESTED).classifier
    check_agreement(classifier, item)
    try:
        expected = classifier.verdict(classifier.careful(item)[0])
    except ItemError as error:
        assert classifier.decide_many([item])[0].error == error.message
    else:
        assert classifier.decide(item) is expected and classifier.decide_many([item])[0] is expected


def test_the_fast_form_handles_clean_items_itself() -> None:
    policy = policy_with(["count >= 3 and level == 'high'", "'vip' in tags or funded"], "first")
    item = {"kind": "incident", "level": "high", "count": 4, "cost": 1.5, "funded": False, "title": "x",
            "tags": ["vip"], "opened": "2026-01-01", "meta": {}, "ticket": "T-9"}
    assert policy.classifier.forms.decide(item) == 1
    assert policy.classifier.forms.decide_traced(item).verdict is policy.classifier.verdicts[1]


@pytest.mark.parametrize("missing", [{}, {"title": None, "tags": None, "funded": None}])
def test_the_fast_form_decides_items_without_optional_inputs(missing: dict[str, Any]) -> None:
    # a rule reading an absent optional input is unknown and does not fire; that is normal
    # data, not a reason for the careful path
    policy = policy_with(["title == 'VPN'", "'vip' in tags and kind == 'incident'", "len(title) > 3", "funded",
                          "days_between(opened, opened) < 1", "count >= 3"], "first")
    item = {"kind": "incident", "count": 5, "ticket": "T-1", **missing}
    classifier = policy.classifier
    assert classifier.careful(item)[0] == 6
    classifier.careful = lambda item: pytest.fail("the careful path was asked")  # type: ignore[method-assign]
    assert policy.decide(item).rule == policy.decide_many([item])[0].rule == "r6"
    negated = policy_with(["not (title == 'VPN')", "count >= 3"], "first")  # not unknown is unknown
    negated.classifier.careful = classifier.careful  # type: ignore[method-assign]
    assert negated.decide(item).rule == "r2"


def test_a_traced_decision_of_an_item_without_optional_inputs_is_made_in_the_fast_form() -> None:
    # the verdict comes from the traced form; the unknowns of its trace from the careful path,
    # only when the trace is looked at
    policy = policy_with(["title == 'VPN' and count >= 3", "'vip' in tags or count >= 3"], "first")
    item = {"kind": "incident", "count": 5, "ticket": "T-1"}
    classifier = policy.classifier
    assert classifier.forms.decide_traced_tolerant is not None
    recorded = classifier.forms.decide_traced_tolerant(item)
    assert recorded.verdict is classifier.verdicts[2]
    nodes, checked = classifier.unpack(item, recorded)
    _, expected_nodes, expected_checked = classifier.careful(item)
    assert (list(nodes), checked) == (list(expected_nodes), expected_checked)
    assert "unknown" in policy.classify(item, trace=True).trace.rules[0].result


def test_where_items_often_lack_optional_inputs_the_tolerant_forms_go_first() -> None:
    from engine.evaluate import TOLERANT_AFTER

    policy = policy_with(["title == 'VPN' and count >= 3", "count >= 3"], "first")
    classifier = policy.classifier
    lacking = [{"kind": "incident", "count": 5, "ticket": f"T-{n}"} for n in range(TOLERANT_AFTER + 10)]
    complete = {**lacking[0], "title": "VPN", "funded": True, "tags": [], "opened": "2026-01-01", "meta": {}}
    first = classifier.decide
    assert [classifier.decide(complete).rule, classifier.decide(lacking[0]).rule] == ["r1", "r2"]
    assert {verdict.rule for verdict in classifier.decide_many(lacking)} == {"r2"}
    assert classifier.decide is classifier.forms.decide_tolerant is not first
    assert [v.rule for v in classifier.decide_many([complete, lacking[0]])] == ["r1", "r2"]
    assert policy.classify(lacking[0], trace=True).trace.rules[0].result == "unknown"


@pytest.mark.parametrize("condition", ["title == 'VPN' or count >= 3", "(title == 'VPN' or funded) and count >= 3",
                                       "kind == 'incident' and (count < (count / count) <= count)",
                                       "(title == 'VPN') == funded", "count >= 3 and not (title == 'VPN')",
                                       "not (title == 'VPN' or funded) and count >= 3", "not funded",
                                       "count >= 3 and not (funded and not (title == 'x'))",
                                       "not (2 < 1 <= len(title))", "not (count < 4 < len(title) < 9)",
                                       "len(title) * 2 > 4 or count >= 3", "count >= 3 and count / (len(title) - 3) > 1",
                                       "not (funded and count / (len(title) - 3) > 1)", "has(title) or count / cost > 1",
                                       "count >= 3 and len(title) * 2 > 4", "len(title) / count > 1",
                                       "abs(len(title) - count) > 1 and kind == 'incident'", "count / len(title) > 1",
                                       "len(title) * 2 > 4 and count / (count - 5) > 1",
                                       "count / (count - 5) > 1 and len(title) > 2",
                                       # len() of a field of an undeclared mapping may fail where the other part is unknown
                                       "title == 'VPN' and len(meta.note) > 3", "matches(title, '^V') and count >= 3",
                                       "not (matches(title, 'P') and funded)", "matches(title, 'N$') and count / (count - 5) > 1",
                                       "len(title) * 2 > 4 and kind == 'incident'", "matches(title, 'V') and not funded"])
@pytest.mark.parametrize("item", [{"count": 5}, {"count": 0}, {"count": 5, "title": "VPN"}, {"count": 5, "funded": True},
                                  {"count": 5, "kind": "incident"}, {"count": 5, "meta": {"note": 5}},
                                  {"count": 5, "title": "VPN", "meta": {"note": "a long note"}}])
def test_conditions_over_absent_inputs_decide_as_the_careful_path_decides(condition: str, item: dict[str, Any]) -> None:
    # an absent input is unknown: `or` may still be true, `and` goes on evaluating (and may fail)
    classifier = policy_with([condition, "True"], "first").classifier
    full = {"ticket": "T-1", **item}
    check_agreement(classifier, full)
    batched = classifier.decide_many([full])[0]
    try:
        expected = classifier.verdict(classifier.careful(full)[0])
    except ItemError as error:
        assert batched.error == error.message
    else:
        assert batched is expected and classifier.decide(full) is expected


# conditions that read count, title or meta.size only where a has() of it is true
GUARDED = ["(count if has(count) else 5) != 5", "has(count) and count != 4", "not has(title) or title != 'VPN'",
           "(meta.size if has(meta.size) else 0) != 0", "not (has(count) and has(title)) or len(title) != count",
           "(title if has(title) else 'x') == 'x'", {"all": ["has(count)", "count != 4"]},
           {"any": [{"not": "has(title)"}, "title != 'VPN'"]}, {"all": [{"not": "not has(count)"}, {"not": "count == 4"}]},
           {"any": [{"not": {"all": ["has(count)", "has(title)"]}}, "count != 4"]},
           "(count if has(count) and has(title) else 5) != 5", "(5 if not has(count) else count) != 5",
           "(True if not has(count) or count != 4 else False)"]
# and conditions that read one where the item may lack it
UNGUARDED = ["(1 if has(count) else count) != 1", "has(count) or count != 1", "count != 4 and has(count)",
             "has(title) and count != 4", {"any": ["has(count)", "count != 4"]}, {"all": ["count != 4", "has(count)"]},
             {"all": ["has(title)", "count != 4"]}, "(count if has(title) else 1) != 1",
             "(count if has(count) or has(title) else 1) != 1", "(True if has(count) or count != 4 else False)",
             {"all": [{"any": ["has(count)", "has(title)"]}, "count != 4"]}]


@pytest.mark.parametrize("condition", GUARDED + UNGUARDED)
@pytest.mark.parametrize("item", [{}, {"count": 4}, {"count": 7, "title": "VPN"}, {"title": "VPN"}, {"title": None},
                                  {"count": None, "meta": {"size": 3}}, {"meta": {}}, {"meta": {"size": None}}])
def test_a_read_guarded_by_has_needs_no_test_for_absence(condition: Any, item: dict[str, Any]) -> None:
    # where the item lacks an input that is read only past a has() of it, the first generated
    # form decides it, as the careful path does; where it is read outside one, that form declines
    classifier = policy_with([condition, "kind == 'incident'"], "first").classifier
    full = {"kind": "request", "ticket": "T-1", **item}
    check_agreement(classifier, full)
    lacks_count = full.get("count") is None
    if condition in UNGUARDED and lacks_count:  # each reads count outside a has()
        with pytest.raises((KeyError, Bail)):
            classifier.forms.decide(full)
    else:
        classifier.forms.decide(full)


@pytest.mark.parametrize("labels", [[], ["a"], ["a", "b", "c"], [None], [1], ["a", 2], ["a", ["b"]], "abc", ("a",),
                                    {"a": 1}, [True]])
def test_a_list_of_text_is_checked_element_by_element(labels: Any) -> None:
    policy = engine.loads(HEADER.replace(INPUTS, "inputs:\n  labels: {type: array, items: {type: string}}\n")
                          + "hit: first\ndefault: a\nrules:\n  - {id: r1, outcome: b, when: \"'a' in labels\"}\n")
    classifier = policy.classifier
    item = {"id": 1, "labels": labels}
    check_agreement(classifier, item)
    (batched,) = classifier.decide_many([item])
    accepted = isinstance(labels, list) and all(isinstance(label, str) for label in labels)
    assert (getattr(batched, "error", None) is None) == accepted
    assert not accepted or batched.rule == ("r1" if "a" in labels else None)


BIG = 2**53 + 1  # the first whole number a float cannot hold


@pytest.mark.parametrize("value", [0, 3, 3.0, 2.9999999999999996, BIG - 1, BIG, BIG + 1, float(BIG - 1), -BIG, 1e300])
def test_whole_number_constants_compare_exactly_with_numbers(value: int | float) -> None:
    # comparisons with a number input may be written with float constants; the results must
    # stay those of the exact comparison on both sides of the range floats hold exactly
    conditions = ["cost >= 3", "cost <= 3", "cost == 3", "cost != 3", f"cost <= {BIG}", f"cost == {BIG}",
                  f"cost >= {BIG - 1}", f"{-BIG} < cost < {BIG}", f"cost < {2**53}", "3 <= cost < 4"]
    policy = policy_with(conditions, "collect")
    item = {"kind": "incident", "cost": value, "count": 0, "ticket": "T-1"}
    expected = tuple(index for index, condition in enumerate(conditions, start=1) if eval(condition, {"cost": value}))  # noqa: S307 - the test's own literals
    assert policy.classifier.forms.decide(item) == expected
    assert policy.classifier.careful(item)[0] == expected
    assert policy.decide(item) == policy.classify(item).verdict


@pytest.mark.parametrize("owner", ["{type: string, required: true}", "{type: string, enum: [ops, dev], required: true}",
                                   "{type: date, required: true}"])
def test_a_required_input_that_no_rule_reads_is_still_required(owner: str) -> None:
    from engine.stream import run

    policy = engine.loads("rulebook: 1\nkind: classification\nname: p\n"
                          f"inputs:\n  owner: {owner}\n  count: integer\n"
                          "outcomes: [a, b]\ndefault: b\nrules:\n  - {id: r, outcome: a, when: 'count >= 3'}\n")
    item = {"id": 1, "count": 5}
    message = "'owner' is required but missing"
    with pytest.raises(ItemError, match=message):
        policy.classify(item)
    with pytest.raises(ItemError, match=message):
        policy.decide(item)
    assert policy.decide_many([item])[0].error == message
    out = io.BytesIO()
    run(policy.classifier, io.BytesIO(b'{"id": 1, "count": 5}\n'), "jsonl", "jsonl", out)  # the JSONL lane
    assert message.encode() in out.getvalue()


# -- what the generated code is made of -------------------------------------------------------------------

ALLOWED_NAMES = {
    "it", "hits", "decide", "decide_traced", "decide_record", "decide_record_tolerant", "get", "append", "lower", "upper", "type", "int", "bool", "float",
    "str", "tuple", "len", "INF", "ABSENT", "EMPTY", "UNSET", "Bail", "True", "False", "None", "decide_many", "items", "careful",
    "out", "settle", "Exception", "decide_verdict", "replay", "recorded", "Recorded", "dict", "list", "map", "days",
}


def names_in(source: str) -> set[str]:
    found = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and not keyword.iskeyword(token.string):
            found.add(token.string)
    return found


SNEAKY_POLICY = """\
rulebook: 1
kind: classification
name: sneaky
inputs:
  os: string
  system: {type: string, enum: ["__import__('os').system('x')", "exec"]}
  eval: integer
  sys.modules.exec: {type: integer, default: 0}
outcomes: {a: A}
default: a
rules:
  - id: r1
    outcome: a
    when: "os == '__import__(\\\\'os\\\\')' and system == 'exec' and eval > 1 and sys.modules.exec < 1"
  - id: r2
    outcome: a
    when: "lower(os) in ['x', 'y'] and matches(os, '.*') and eval ** 2 > 3"
"""


def test_generated_code_contains_no_name_an_author_wrote() -> None:
    policy = engine.loads(SNEAKY_POLICY)
    source = policy.classifier.forms.source
    unexpected = {
        name for name in names_in(source)
        if name not in ALLOWED_NAMES and not re.fullmatch(r"[vhnfgpmx]\d+|[A-Z]\d+|_[a-z_]+", name)
    }
    assert unexpected == set(), source
    assert policy.classifier.forms.decide_record is not None  # the record form was looked at too
    decision = policy.classify({"os": "__import__('os')", "system": "exec", "eval": 2})
    assert decision.rule == "r1"


def test_the_generated_namespace_has_no_builtins() -> None:
    policy = engine.loads(SNEAKY_POLICY)
    assert policy.classifier.forms.decide.__globals__["__builtins__"] == {}


@pytest.mark.parametrize(
    "expression",
    [
        "().__class__.__bases__[0].__subclasses__() == []",
        "eval.__class__ == 1",
        "getattr(os, 'x') == 1",
        "__import__('os') == 1",
        "open('x') == 1",
        "type(os) == 1",
        "os.__len__() == 1",
        "[c for c in os] == []",
        "(lambda: 1)() == 1",
        "globals() == 1",
        "os[0:1] == 'x'",
    ],
)
def test_smuggling_anything_else_through_is_refused(expression: str) -> None:
    text = SNEAKY_POLICY.split("rules:")[0] + f"rules:\n  - id: r\n    outcome: a\n    when: {expression!r}\n"
    with pytest.raises(PolicyError):
        engine.loads(text)


@pytest.mark.parametrize(
    "expression, item",
    [
        ("eval ** eval > 1", {"eval": 10**6}),
        ("len(os * eval) > 1", {"os": "x" * 1000, "eval": 10**6}),
        ("len(os + os + os) > 1", {"os": "x" * 60_000}),
    ],
)
def test_huge_work_on_item_data_is_stopped(expression: str, item: dict[str, Any]) -> None:
    text = SNEAKY_POLICY.split("rules:")[0] + f"rules:\n  - id: r\n    outcome: a\n    when: {expression!r}\n"
    policy = engine.loads(text)
    item = {"system": "exec", **item}
    item.setdefault("os", "x")
    item.setdefault("eval", 1)
    with pytest.raises(ItemError, match="too large|limit"):
        policy.classify(item)


def test_the_generated_code_grows_in_step_with_the_rules() -> None:
    # a replay that returned every condition's value at each rule was rules x conditions long:
    # a 1,000-rule policy took 3 s and 1 GB to load
    def policy(count: int) -> engine.Policy:
        rules = "".join(f"  - {{id: r{number}, outcome: b, when: 'n == {number}'}}\n" for number in range(count))
        return engine.loads("rulebook: 1\nkind: classification\nname: many\ninputs:\n  n: integer\n"
                            f"outcomes: [a, b]\ndefault: a\nrules:\n{rules}")

    small, large = policy(100), policy(1000)
    assert len(large.classifier.forms.source) < 12 * len(small.classifier.forms.source)
    decision = large.classify({"id": 1, "n": 777}, trace=True)
    assert decision.verdict.rule == "r777" and [rule.rule.id for rule in decision.trace.rules][-1] == "r777"
