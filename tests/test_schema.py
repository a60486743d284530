"""Structure check: the engine's schema checker against the published schema and jsonschema."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.schema import ANNOTATIONS, SchemaChecker, policy_checker

from .conftest import POLICIES, SCHEMAS


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


@pytest.mark.parametrize("name", ["policy.schema.json", "decision.schema.json", "gate.schema.json"])
def test_published_schemas_are_valid_json_schema_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_the_checker_knows_every_keyword_the_policy_schema_uses() -> None:
    checker = policy_checker()
    used: set[str] = set()

    def collect(node: Any, in_properties: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if not in_properties:
                    used.add(key)
                collect(value, in_properties=(key in ("properties", "$defs") and not in_properties))
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(load_schema("policy.schema.json"))
    assert used - set(checker.keywords) - ANNOTATIONS == set()


def default_policy() -> dict[str, Any]:
    return yaml.safe_load((POLICIES / "demand-intake.yaml").read_text())


def agrees(document: Any) -> None:
    reference = jsonschema.Draft202012Validator(load_schema("policy.schema.json"))
    expected = reference.is_valid(document)
    problems = policy_checker().problems(document)
    assert (not problems) == expected, (document, problems, [e.message for e in reference.iter_errors(document)])


def test_the_default_policy_is_valid_for_both() -> None:
    agrees(default_policy())
    assert policy_checker().problems(default_policy()) == []


MUTATIONS = [
    lambda d: d.pop("rules"),
    lambda d: d.update(rulebook=2),
    lambda d: d.update(kind="clasification"),
    lambda d: d.update(hit="last"),
    lambda d: d.update(extra=1),
    lambda d: d["rules"][0].update(because=5),
    lambda d: d["rules"][0].update(priority="high"),
    lambda d: d["rules"][0].update(when={"all": []}),
    lambda d: d["rules"][0].update(when={"alll": ["x"]}),
    lambda d: d["rules"][0].update(when={"all": ["a"], "any": ["b"]}),
    lambda d: d["rules"][0].update(when=["x"]),
    lambda d: d["rules"][0].pop("outcome"),
    lambda d: d["rules"][0].update(id="has space"),
    lambda d: d["inputs"].update(x={"type": "integr"}),
    lambda d: d["inputs"].update(x="integer"),
    lambda d: d["inputs"].update(x={"type": "array", "items": {"type": "string", "enum": []}}),
    lambda d: d["inputs"].update(x={"type": "number", "minimum": "0"}),
    lambda d: d["inputs"].update({"9bad": {"type": "number"}}),
    lambda d: d["inputs"].update({"a.b": {"type": "object", "properties": {"c": "string"}}}),
    lambda d: d.update(default={"outcome": "routine_ticket", "because": "x"}),
    lambda d: d.update(default={"because": "x"}),
    lambda d: d.update(default=3),
    lambda d: d.update(outcomes={}),
    lambda d: d.update(version=2026.11),
    lambda d: d.update(version=None),
    lambda d: d.update(name=""),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_checker_agrees_with_jsonschema_on_mutations(mutate: Any) -> None:
    document = default_policy()
    mutate(document)
    agrees(document)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
paths = st.lists(st.sampled_from(["rules", 0, 1, "when", "all", "inputs", "type", "outcomes", "default", "hit", "id"]), max_size=4)


@settings(max_examples=300, deadline=None)
@given(path=paths, value=json_values)
def test_checker_agrees_with_jsonschema_on_random_edits(path: list[Any], value: Any) -> None:
    agrees(copy.deepcopy(edited(default_policy(), path, value)))


def edited(document: Any, path: list[Any], value: Any) -> Any:
    """`document` with the value at `path` replaced by `value`, where that path exists."""
    target: Any = document
    for part in path[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return document
    if path:
        try:
            target[path[-1]] = value
        except (IndexError, TypeError):
            pass
    return document


# -- the gates kind ---------------------------------------------------------------------------------

GATES = """
- to: analysis
  require: [problem_statement, {field: sponsor, because: Someone owns it.}]
- to: approval
  when:
    - cost <= budget
    - {id: low-risk, when: "risk != 'high'", because: No high risks.}
    - {any: [cost < 10, risk == 'low']}
- to: charter
  because: Money.
  approvals:
    - {from: board, rule: majority}
    - {from: pair, rule: {at_least: 1}, veto: [cfo]}
"""


def gates_policy() -> dict[str, Any]:
    from .conftest import gates_text

    return yaml.safe_load(gates_text(GATES, extra="applies_to: cost > 0\nallow_skip: false\n"))


def test_a_gates_policy_is_valid_for_both() -> None:
    agrees(gates_policy())
    assert policy_checker().problems(gates_policy()) == []


GATES_MUTATIONS = [
    lambda d: d.pop("stages"),
    lambda d: d.update(stages="definition"),
    lambda d: d.update(stages=[]),
    lambda d: d.update(allow_skip="yes"),
    lambda d: d.update(applies_to={"al": ["x"]}),
    lambda d: d.update(roster={"board": []}),
    lambda d: d.update(roster={"board": "ana"}),
    lambda d: d.update(gates={"analysis": {"require": ["x"]}, "charter": {"to": "charter"}}),
    lambda d: d.update(gates={"analysis": "x"}),
    lambda d: d.update(gates="x"),
    lambda d: d["gates"][0].pop("to"),
    lambda d: d["gates"][0].update(requires=["x"]),
    lambda d: d["gates"][0].update(require="x"),
    lambda d: d["gates"][0].update(require=[{"field": "x", "why": "y"}]),
    lambda d: d["gates"][0].update(require=["not a field"]),
    lambda d: d["gates"][1].update(when=[]),
    lambda d: d["gates"][1].update(when=[{"id": "x", "because": "y"}]),
    lambda d: d["gates"][1].update(when=[{"when": "x", "condition": "y"}]),
    lambda d: d["gates"][1].update(when=[{"condition": "x", "becuase": "y"}]),
    lambda d: d["gates"][1].update(when=[5]),
    lambda d: d["gates"][2].update(approvals=[]),
    lambda d: d["gates"][2].update(approvals={"from": "board"}),
    lambda d: d["gates"][2].update(approvals={"rule": "majority"}),
    lambda d: d["gates"][2]["approvals"][0].update(rule="majorty"),
    lambda d: d["gates"][2]["approvals"][0].update(rule={"at_leest": 2}),
    lambda d: d["gates"][2]["approvals"][0].update(rule={"at_least": "2"}),
    lambda d: d["gates"][2]["approvals"][0].update(veto="ana"),
    lambda d: d["gates"][2]["approvals"][0].update(veto=[1]),
    lambda d: d.update(kind="gate"),
]


@pytest.mark.parametrize("mutate", GATES_MUTATIONS)
def test_checker_agrees_with_jsonschema_on_gates_mutations(mutate: Any) -> None:
    document = gates_policy()
    mutate(document)
    agrees(document)


gate_paths = st.lists(st.sampled_from(["gates", 0, 1, 2, "when", "require", "approvals", "rule", "at_least", "veto",
                                       "roster", "board", "stages", "applies_to", "to", "from"]), max_size=4)


@settings(max_examples=150, deadline=None)
@given(path=gate_paths, value=json_values)
def test_checker_agrees_with_jsonschema_on_random_gates_edits(path: list[Any], value: Any) -> None:
    agrees(copy.deepcopy(edited(gates_policy(), path, value)))


def test_gates_problems_carry_hints() -> None:
    document = gates_policy()
    document["gates"][0]["requre"] = ["x"]
    document["gates"][2]["approvals"][0]["rule"] = "majorty"
    problems = {(p.path, p.code): p for p in policy_checker().problems(document)}
    assert problems[(("gates", 0, "requre"), "unknown-key")].hint == "did you mean 'require'?"
    assert problems[(("gates", 2, "approvals", 0, "rule"), "invalid-value")].hint == "did you mean 'majority'?"


def test_problems_carry_paths_codes_and_hints() -> None:
    document = default_policy()
    document["rules"][1]["becuase"] = "typo"
    document["rules"][2]["when"] = {"al": ["x"]}
    document["hit"] = "frist"
    problems = {(p.path, p.code): p for p in policy_checker().problems(document)}
    assert problems[(("rules", 1, "becuase"), "unknown-key")].hint == "did you mean 'because'?"
    assert problems[(("rules", 2, "when", "al"), "unknown-key")].hint == "did you mean 'all'?"
    assert problems[(("hit",), "invalid-value")].hint == "did you mean 'first'?"


def test_wrong_type_names_what_was_expected() -> None:
    checker = SchemaChecker({"type": "object", "properties": {"priority": {"type": "integer"}}})
    (problem,) = checker.problems({"priority": "high"})
    assert problem.message == "'priority' must be a whole number, not text 'high'"


def test_any_of_reports_the_branch_that_fits_the_value() -> None:
    document = default_policy()
    document["inputs"]["x"] = {"type": "integr"}
    (problem,) = policy_checker().problems(document)
    assert problem.path == ("inputs", "x", "type") and problem.hint == "did you mean 'integer'?"
    document["inputs"]["x"] = "integr"
    (problem,) = policy_checker().problems(document)
    assert problem.path == ("inputs", "x") and problem.hint == "did you mean 'integer'?"
