"""Properties over open-ended inputs: random items, random expression text, random policies."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import ItemError, PolicyError
from engine.sandbox import UNKNOWN

from .conftest import POLICIES, policy_text
from .test_compile import VALID, conditions, items, policy_with
from .test_schema import edited

DEFAULT = engine.load(str(POLICIES))
FIELDS = [spec.name for spec in DEFAULT.classification.inputs]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                         st.text(max_size=12), st.sampled_from(["incident", "request", "problem", "change", "idea",
                                                                "low", "medium", "high", "critical", ""]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
random_items = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS + ["id", "title", "other"]), json_values, max_size=12),
    json_values,
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(random_items, max_size=10))
def test_random_items_never_crash_and_each_yields_one_record(batch: list[Any]) -> None:
    results = list(DEFAULT.classify_all(batch))
    assert len(results) == len(batch)
    for result in results:
        assert type(result).__name__ in ("Decision", "Rejection")


@settings(max_examples=100, deadline=None)
@given(batch=st.lists(random_items, max_size=10))
def test_random_lines_through_the_command_line_yield_one_record_each(batch: list[Any]) -> None:
    from .conftest import jsonl, run

    lines = [json.dumps(item) for item in batch] + ["{broken"]
    result = run("classify", "-", "--policy", str(POLICIES), "--quiet", input="\n".join(lines) + "\n")
    assert result.exit_code in (0, 3)
    assert len(jsonl(result.stdout)) == len(lines)


@settings(max_examples=200, deadline=None)
@given(item=st.fixed_dictionaries({name: st.one_of(json_scalars, values) for name, values in VALID.items()}))
def test_tracing_never_changes_a_decision(item: dict[str, Any]) -> None:
    policy = policy_with(["count >= 3 and level == 'high'", "funded or cost > 100", "'vip' in tags"], "first")
    try:
        plain = policy.classify(item)
    except ItemError as error:
        try:
            policy.classify(item, trace=True)
        except ItemError as again:
            assert again.message == error.message
            return
        raise AssertionError("tracing decided an item that plain classification rejected")
    traced = policy.classify(item, trace=True)
    assert (plain.outcome, plain.rule) == (traced.outcome, traced.rule)


TRACED = [
    policy_with(["count >= 3 and level == 'high'", "funded or cost > 100", "'vip' in tags and has(meta.flag)",
                 "opened < '2024-01-01' or title == '50% off'"], "first"),
    # a policy whose own text holds what marks a value in a shape has its traces encoded in full
    policy_with(["count >= 3 or kind == 'problem'", "not funded and title != '\ue0003\ue000'", "level in ['low', 'high']"],
                "collect"),
]
# values that look like the holes of an encoded shape must come out as themselves
TITLES = st.sampled_from(["50% off", "%(0)s", "\ue0003\ue000", "VPN"])
traced_items = st.fixed_dictionaries(
    {"ticket": st.sampled_from(["T-1", "T-2"])},
    optional={name: TITLES if name == "title" else values for name, values in VALID.items() if name != "ticket"},
)


@settings(max_examples=300, deadline=None)
@given(item=traced_items)
def test_an_encoded_trace_is_the_trace_record_encoded(item: dict[str, Any]) -> None:
    """`classify --explain` writes each trace from the encoded shape of an earlier one, with the
    item's values filled in: the bytes must be those of the trace's own record, every time."""
    from engine.explain import decision_trace_json, decision_trace_record, trace_record
    from engine.jsonio import encode

    for policy in TRACED:
        decision = policy.classify(item, trace=True)
        expected = encode(decision_trace_record(decision))
        assert expected == encode(trace_record(decision.trace))
        assert decision_trace_json(decision) == expected  # the shape made, or found
        assert decision_trace_json(decision) == expected  # the shape found


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.from_regex(
    r"[a-z_ ()\[\]'.,:=<>!+*/%-]{1,30}", fullmatch=True))
def test_random_expression_text_only_ever_raises_a_policy_error(text: str) -> None:
    document = policy_text("- id: r\n  outcome: initiative\n  when: " + json.dumps(text))
    try:
        engine.loads(document)
    except PolicyError as error:
        assert error.diagnostics and all(d.span is not None for d in error.diagnostics)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=conditions(), item=items(), dropped=st.sampled_from(sorted(set(VALID) - {"level", "cost"})))
def test_a_missing_field_can_only_make_a_known_result_unknown(condition: str, item: dict[str, Any], dropped: str) -> None:
    """Three-valued logic is monotone: learning a value never turns true into false.
    (Only for inputs without a default: `level` and `cost` have one; and has() tests presence
    itself, so it is left out.)"""
    assume("has(" not in condition)
    try:
        policy = policy_with([condition], "collect")
    except PolicyError:
        assume(False)
        return
    classifier = policy.classifier
    try:
        _, full, _ = classifier.careful(item)
        _, partial, _ = classifier.careful({k: v for k, v in item.items() if k != dropped})
    except ItemError as error:  # `and` goes on past an unknown part, which may fail
        assert "_Unknown" not in error.message, error.message  # but a missing value is never an operand
        return
    root = policy.classification.rules[0].when.node_id
    assert partial[root] in (full[root], UNKNOWN)


# -- the language against simpleeval, its reference ------------------------------------------------

SIMPLE_ATOMS = st.sampled_from([
    "count >= 3", "count + 1 > cost", "cost * 2 <= 10", "count % 3 == 1", "(count - 2) * 2 < cost",
    "kind == 'incident'", "level in ['high', 'critical']", "kind != 'problem'", "funded", "not funded",
    "1 < count <= 5", "abs(cost - count) > 2", "min(count, 4) == count", "max(cost, 1) > 3",
    "len(title) > 2", "lower(title) == 'vpn'", "upper(title) in ['VPN', 'EMAIL']", "'vip' in tags",
    "(cost if funded else count) > 1", "round(cost) == count", "count // 2 == 1", "count ** 2 > 10",
])
simple_conditions = st.recursive(SIMPLE_ATOMS, lambda inner: st.builds("({} and {})".format, inner, inner)
                                 | st.builds("({} or {})".format, inner, inner) | st.builds("(not {})".format, inner),
                                 max_leaves=4)


@settings(max_examples=300, deadline=None)
@given(condition=simple_conditions, values=st.fixed_dictionaries({name: VALID[name] for name in ("kind", "level", "count", "cost", "funded", "title", "tags")}))
def test_expressions_mean_what_simpleeval_says(condition: str, values: dict[str, Any]) -> None:
    from simpleeval import EvalWithCompoundTypes

    policy = policy_with([condition], "collect")
    reference = EvalWithCompoundTypes(names=dict(values), functions={
        "len": len, "lower": str.lower, "upper": str.upper, "min": min, "max": max, "abs": abs, "round": round,
    })
    try:
        expected: Any = bool(reference.eval(condition))
    except ArithmeticError:
        expected = "error"
    item = {**values, "opened": "2026-01-01", "meta": {}, "ticket": "T-1"}
    try:
        result = policy.classify(item).rule == ("r1",)
    except ItemError:
        result = "error"
    assert result == expected, (condition, values)


# -- stage gates ----------------------------------------------------------------------------------

GATE_FIELDS = sorted({spec.name for spec in DEFAULT.gates.inputs} | {"stage", "target", "outcome", "approvals", "type",
                      "problem_statement", "sponsor", "resource_plan", "id"})
stages = st.sampled_from(["definition", "analysis", "approval", "charter", "Approval", ""])
members = st.sampled_from(["cio", "cfo", "coo", "finance_controller", "stranger", ""])
ballots = st.lists(st.one_of(
    st.fixed_dictionaries({"by": members, "vote": st.sampled_from(["approve", "reject"])}),
    st.dictionaries(st.sampled_from(["by", "vote", "at"]), json_scalars, max_size=3),
    json_scalars,
), max_size=6)
gate_items = st.one_of(
    st.dictionaries(st.sampled_from(GATE_FIELDS), st.one_of(json_values, stages, ballots), max_size=12),
    st.fixed_dictionaries({"stage": stages, "approvals": ballots},
                          optional={"target": stages, "outcome": st.sampled_from(["initiative", "routine_ticket", "x"]),
                                    "estimated_cost": json_scalars, "budget_available": json_scalars, "type": json_scalars}),
    json_values,
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(gate_items, max_size=8))
def test_random_items_never_crash_gate_and_each_yields_one_record(batch: list[Any]) -> None:
    gater = DEFAULT.gater()
    results = list(gater.gate_all(batch))
    assert len(results) == len(batch)
    for result in results:
        assert type(result).__name__ in ("GateResult", "Rejection")
        record = gater.record(result, True)
        if "result" in record:
            assert record["result"] in ("pass", "fail", "not_applicable")
            assert all(c["status"] in ("met", "not_met", "unknown") for c in record["criteria"])
            assert (record["result"] == "pass") == (all(c["status"] == "met" for c in record["criteria"])
                                                     and record["result"] != "not_applicable")


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(gate_items, max_size=6))
def test_random_lines_through_gate_yield_one_record_each(batch: list[Any]) -> None:
    from .conftest import jsonl, run

    lines = [json.dumps(item) for item in batch] + ["{broken"]
    result = run("gate", "-", "--policy", str(POLICIES), "--quiet", input="\n".join(lines) + "\n")
    assert result.exit_code == 3
    assert len(jsonl(result.stdout)) == len(lines)


@settings(max_examples=150, deadline=None)
@given(path=st.lists(st.sampled_from(["gates", 0, 1, 2, "when", "require", "approvals", "rule", "at_least", "veto",
                                      "roster", "investment_board", "stages", "applies_to", "to", "from", "allow_skip"]),
                     min_size=1, max_size=4),
       value=json_values | stages)
def test_random_edits_of_a_gates_policy_only_ever_raise_a_policy_error(path: list[Any], value: Any) -> None:
    import yaml

    document = edited(yaml.safe_load((POLICIES / "initiative-gates.yaml").read_text()), path, value)
    try:
        engine.loads(yaml.safe_dump(document))
    except PolicyError as error:
        assert error.diagnostics and all(d.span is not None for d in error.diagnostics)
