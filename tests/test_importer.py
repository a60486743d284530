"""Import: a plain rule list becomes a Rulebook policy that decides as the rule list says,
with its inputs typed from sample items; what cannot be translated is told at its line."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import PolicyError
from engine.importer import translate

from .conftest import jsonl, run

RULE_LIST = """\
# ordered rules, first match, as another engine writes them
policy: intake
version: 3
strategy: first_match
default:
  outcome: routine
rules:
  - id: R1
    outcome: portfolio
    when: cost >= 250000
  - id: R2
    outcome: initiative
    when: criticality in ('high', 'critical') and recurrences >= 5
  - id: R3
    outcome: initiative
    when: funded and not (team == 'ops')
    description: Funded work outside operations.
  - id: R4
    outcome: improvement
    when: 'effort / max(recurrences, 1) > 2.5 or "legacy" in tags'
  - id: R5
    outcome: routine
    when: kind == 'incident'
"""


def sample_items(count: int, seed: int = 3) -> list[dict[str, Any]]:
    chance = random.Random(seed)
    return [{"id": f"I-{n}", "cost": chance.choice([0, 1000.5, 300000, 50000]),
             "criticality": chance.choice(["low", "high", "critical"]), "recurrences": chance.randint(0, 9),
             "funded": chance.random() < 0.3, "team": chance.choice(["ops", "dev"]),
             "effort": chance.choice([0, 4, 12.5]), "tags": chance.sample(["legacy", "vip", "mobile"], chance.randint(0, 2)),
             "kind": chance.choice(["incident", "request"])} for n in range(count)]


def expected(item: dict[str, Any]) -> tuple[str, str | None]:
    """What the rule list says, read as Python reads its expressions."""
    rules = [("R1", "portfolio", item["cost"] >= 250000),
             ("R2", "initiative", item["criticality"] in ("high", "critical") and item["recurrences"] >= 5),
             ("R3", "initiative", item["funded"] and item["team"] != "ops"),
             ("R4", "improvement", item["effort"] / max(item["recurrences"], 1) > 2.5 or "legacy" in item["tags"]),
             ("R5", "routine", item["kind"] == "incident")]
    return next(((outcome, rule) for rule, outcome, holds in rules if holds), ("routine", None))


def test_the_translation_decides_as_the_rule_list_says() -> None:
    items = sample_items(400)
    translation = translate(RULE_LIST, "rules.yaml", items[:100])
    policy = engine.loads(translation.text)
    assert [(d.outcome, d.rule) for d in policy.decide_many(items)] == [expected(item) for item in items]
    assert {(i.name, i.type, i.items) for i in translation.inputs} == {
        ("cost", "number", None), ("criticality", "string", None), ("recurrences", "integer", None),
        ("funded", "boolean", None), ("team", "string", None), ("effort", "number", None),
        ("tags", "array", "string"), ("kind", "string", None)}
    classification = policy.classification
    assert (classification.name, classification.version, classification.hit) == ("intake", "3", "first")
    assert classification.rules[2].because == "Funded work outside operations."
    assert translation.text.startswith("# Translated from rules.yaml by `rulebook import`; input types from 100 sample items.")


def test_without_samples_types_come_from_the_constants_compared_with() -> None:
    text = RULE_LIST.replace('effort / max(recurrences, 1) > 2.5 or "legacy" in tags', "effort > 2")
    inputs = {i.name: (i.type, i.evidence) for i in translate(text, "rules.yaml").inputs}
    assert inputs == {"cost": ("number", "rules"), "criticality": ("string", "rules"), "recurrences": ("number", "rules"),
                      "funded": ("boolean", "rules"), "team": ("string", "rules"), "effort": ("number", "rules"),
                      "kind": ("string", "rules")}


def test_text_samples_are_read_for_the_type_they_spell() -> None:
    text = "rules:\n  - {id: a, outcome: x, when: 'count > 2 and flag and size > 1.5 and name == \"n\"'}\n"
    samples = [{"count": "3", "flag": "true", "size": "2.5", "name": "4x"}, {"count": "10", "flag": "False", "size": "7"},
               {"count": "", "flag": " ", "size": "", "name": ""}]  # empty cells are missing, as the checker reads them
    translation = translate(text, "rules.yaml", samples, text_values=True)
    assert {i.name: i.type for i in translation.inputs} == {"count": "integer", "flag": "boolean", "size": "number",
                                                            "name": "string"}
    assert {i.evidence for i in translation.inputs} == {"samples"}  # the samples agree


@pytest.mark.parametrize(("text", "where", "message"), [
    ("- just a list\n", "rules.yaml:1:1", "expected one YAML mapping holding a list of rules"),
    ("policy: p\nrules: []\n", "rules.yaml:2:1", "expected 'rules:' with a list of rules"),
    ("rules:\n  - id: a\n    when: x > 1\n", "rules.yaml:2:5", "this rule has no outcome"),
    ("rules:\n  - id: a\n    outcome: b\n    when: x >= 1 and\n", "rules.yaml:4:11", "not an expression: invalid syntax"),
    ("strategy: best\nrules:\n  - {id: a, outcome: b, when: x > 1}\n", "rules.yaml:1:11", "unknown rule order 'best'"),
    ("rules:\n  - {id: a, outcome: b, when: x > y}\n", "rules.yaml:2:31", "cannot tell the type of 'y'"),
    ("rules:\n  - id: a\n    outcome: b\n    when: startswith(name, 'x')\n", "rules.yaml:4:11",
     "unknown function 'startswith' (in the translation of this rule)"),
    ("rulebook: 1\nkind: classification\n", "rules.yaml:1:1", "this is a Rulebook policy already"),
    # nothing of a rule or a default is dropped unsaid
    ("rules:\n  - {id: a, then: b, when: x > 1, condition: x < 0}\n", "rules.yaml:2:35",
     "this rule has both 'when' and 'condition'"),
    ("rules:\n  - {id: a, then: b, outcome: c, when: x > 1}\n", "rules.yaml:2:13", "this rule has both 'outcome' and 'then'"),
    ("rules:\n  - {id: a, then: [b, c], when: x > 1}\n", "rules.yaml:2:19", "an outcome is a name, not a list"),
    ("default: {foo: a}\nrules:\n  - {id: a, then: b, when: x > 1}\n", "rules.yaml:1:10", "the default names no outcome"),
    ("default: [a]\nrules:\n  - {id: a, then: b, when: x > 1}\n", "rules.yaml:1:10", "an outcome is a name, not a list"),
])
def test_what_cannot_be_translated_is_told_at_its_line(text: str, where: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        translate(text, "rules.yaml", [{"x": 1, "name": "n"}])
    first = raised.value.diagnostics[0]
    assert (str(first.span), first.message) == (where, message)


def test_a_rule_list_that_reads_no_field_translates() -> None:
    translation = translate("default: low\nrules:\n  - {id: always, then: high, when: 'True'}\n", "rules.yaml")
    assert translation.inputs == () and engine.loads(translation.text).decide({}).outcome == "high"


def test_a_field_compared_with_constants_of_two_types_is_told_so() -> None:
    with pytest.raises(PolicyError) as raised:
        translate("rules:\n  - {id: a, then: b, when: x > 1}\n  - {id: c, then: d, when: \"x == 'big'\"}\n", "rules.yaml")
    (problem,) = raised.value.diagnostics
    assert problem.hint is not None and "the rules compare it with constants of several types (number and string)" \
        in problem.hint


def test_a_line_named_in_a_hint_is_the_rule_lists_own() -> None:
    text = "rules:\n  - id: a\n    outcome: b\n    when: x > 1\n  - id: a\n    outcome: c\n    when: x > 2\n"
    with pytest.raises(PolicyError) as raised:
        translate(text, "rules.yaml", [{"x": 1}])
    (problem,) = raised.value.diagnostics
    assert (str(problem.span), problem.hint) == ("rules.yaml:7:11", "the first is at line 4; rule ids must be unique")


def test_a_name_tested_for_a_member_is_not_typed_by_it() -> None:
    # 'x' in tags may test a list or a text: only samples tell
    text = "rules:\n  - {id: a, outcome: b, when: \"'vip' in tags and level in ['p1', 'p2']\"}\n"
    with pytest.raises(PolicyError, match="cannot tell the type of 'tags'"):
        translate(text, "rules.yaml")
    inputs = {i.name: (i.type, i.items) for i in translate(text, "rules.yaml", [{"tags": ["vip"]}]).inputs}
    assert inputs == {"tags": ("array", "string"), "level": ("string", None)}


def test_samples_that_disagree_on_a_type_are_typed_as_the_rules_compare_them() -> None:
    text = "default: n\nrules:\n  - {id: a, outcome: b, when: x > 1}\n  - {id: c, outcome: d, when: \"y == 'A'\"}\n"
    translation = translate(text, "rules.yaml", [{"x": 1, "y": "A"}, {"x": "2", "y": 7}, {"x": 2.5, "y": True}])
    assert [(spec.name, spec.type, spec.seen) for spec in translation.mixed] == [
        ("x", "number", ("integer", "number", "string")), ("y", "string", ("boolean", "integer", "string"))]
    assert "  x: {type: number}  # the samples hold integer, number and string: typed as the rules compare it\n" \
        in translation.text
    policy = engine.loads(translation.text)
    decided = policy.decide_many([{"x": 2.5, "y": "B"}, {"x": "2", "y": "A"}, {"x": 0, "y": "A"}])
    assert decided[0].rule == "a" and "'x' must be a number, not '2'" in decided[1].error and decided[2].rule == "c"


def test_samples_that_disagree_where_the_rules_do_not_say_are_an_error() -> None:
    text = "rules:\n  - {id: a, outcome: b, when: x}\n"
    with pytest.raises(PolicyError, match="the sample items hold values of several types for 'x': integer, string") as raised:
        translate(text, "rules.yaml", [{"x": 1}, {"x": "2"}])
    assert "translate without --items" in (raised.value.diagnostics[0].hint or "")


def test_the_command_writes_a_policy_that_classifies(write: Any, tmp_path: Path) -> None:
    rules = write("rules.yaml", RULE_LIST)
    items = sample_items(50)
    samples = write("items.jsonl", "".join(json.dumps(item) + "\n" for item in items))
    shown = run("import", str(rules), "--items", str(samples), "--sample", "20")
    assert shown.exit_code == 0, shown.stderr
    assert "input types from 20 sample items" in shown.stdout
    target = tmp_path / "intake.yaml"
    written = run("import", str(rules), "--items", str(samples), "-o", str(target))
    assert written.exit_code == 0 and written.stdout == ""
    assert written.stderr == f"rulebook: wrote {target}: 8 inputs, typed from 50 sample items\n"
    decided = run("classify", str(samples), "--policy", str(target), "--format", "jsonl")
    assert [(d["outcome"], d["rule"]) for d in jsonl(decided.stdout)] == [expected(item) for item in items]


def test_an_input_no_sample_holds_is_pointed_out(write: Any, tmp_path: Path) -> None:
    rules = write("rules.yaml", RULE_LIST.replace("when: kind == 'incident'", "when: ctx['kind'] == 'incident'"))
    samples = write("items.jsonl", "".join(json.dumps(item) + "\n" for item in sample_items(5)))
    target = tmp_path / "intake.yaml"
    written = run("import", str(rules), "--items", str(samples), "-o", str(target))
    assert written.exit_code == 0
    assert written.stderr.endswith("rulebook: no sample item holds 'ctx.kind': typed from the rules alone; check the name\n")
    assert "  ctx.kind: {type: string}  # no sample item holds it: typed from the rules\n" in target.read_text()
    samples.write_text("".join(json.dumps({**item, "cost": 1 if n else "high"}) + "\n"
                               for n, item in enumerate(sample_items(5))))
    mixed = run("import", str(rules), "--items", str(samples), "-o", str(target))
    assert mixed.exit_code == 0
    assert ("rulebook: the sample items hold integer and string values for 'cost': declared integer, as the rules "
            "compare it; items holding another are rejected\n") in mixed.stderr


def test_the_command_reports_problems_and_writes_nothing(write: Any, tmp_path: Path) -> None:
    rules = write("rules.yaml", "rules:\n  - {id: a, when: x > 1}\n")
    result = run("import", str(rules), "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{rules}:2:5: error: this rule has no outcome" in result.stderr
    assert result.stderr.endswith("rulebook: 1 problem; nothing was written\n")
    assert not (tmp_path / "out.yaml").exists()
    missing = run("import", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "cannot read the rule list" in missing.stderr


@pytest.mark.parametrize("kind", ["", "kind: ruleset\n"])  # a rule list may name a kind of its own
def test_a_rule_list_given_as_a_policy_points_to_import(write: Any, kind: str) -> None:
    rules = write("rules.yaml", kind + RULE_LIST)
    result = run("classify", "-", "--policy", str(rules), input=json.dumps(sample_items(1)[0]) + "\n")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"rulebook: the policy set holds no classification policy; {rules} is a rule list for "
                             f"another engine: 'rulebook import {rules}' translates it\nTry 'rulebook --help' for help.\n")
    checked = run("validate", str(rules))
    assert f"hint: a rule list written for another engine? 'rulebook import {rules}' translates it" in checked.stdout


IDIOMS = [
    ("""\
rules:
  - {id: a, outcome: x, when: "title.lower() == 'vpn' and code.startswith('INC')"}
  - {id: b, outcome: x, when: "owner is None or team.endswith(('ops', 'sec.'))"}
  - {id: c, outcome: x, when: "owner is not None and title.upper() != 'X'"}
""", {"title": "VPN", "code": "INC1", "owner": "ann", "team": "netops"},
     ["lower(title) == 'vpn' and matches(code, '^INC')", "not has(owner) or matches(team, '(?:ops|sec\\\\.)$')",
      "has(owner) and upper(title) != 'X'"],
     [{"title": "vpn", "code": "INC7"}, {"title": "x", "code": "REQ1", "team": "dev"},
      {"title": "x", "code": "REQ1", "owner": "ann", "team": "sec."}, {"title": "Y", "owner": "bo", "team": "dev"}],
     ["a", "b", "b", "c"]),
    # a field read with get(), with or without a value for where it is missing
    ("""\
rules:
  - {id: a, outcome: x, when: "service.get('tier') == 1 and impact.get('users', 0) > 100"}
  - {id: b, outcome: x, when: "item.get('escalated', False)"}
  - {id: c, outcome: x, when: "impact.get('users') is None or not impact.get('users', 0) > 300"}
""", {"service": {"tier": 1}, "impact": {"users": 5}, "escalated": True},
     ["service.tier == 1 and (impact.users if has(impact.users) else 0) > 100", "escalated if has(escalated) else False",
      "not has(impact.users) or not (impact.users if has(impact.users) else 0) > 300"],
     [{"service": {"tier": 1}, "impact": {"users": 101}}, {"service": {}, "impact": {}, "escalated": True},
      {"impact": {}}, {"impact": {"users": 200}}],
     ["a", "b", "c", "c"]),
    # any() and all() over a list written out
    ("""\
rules:
  - {id: a, outcome: x, when: "any(t in tags for t in ('vip', 'legacy'))"}
  - {id: b, outcome: x, when: "all(n > 2 for n in [count, cost])"}
  - {id: c, outcome: x, when: "any(name.startswith(p) for p in ('v',))"}
""", {"tags": ["vip"], "count": 1, "cost": 1.5, "name": "x"},
     ["'vip' in tags or 'legacy' in tags", "count > 2 and cost > 2", "matches(name, '^v')"],
     [{"tags": ["legacy"], "count": 0, "cost": 0, "name": "x"}, {"tags": [], "count": 3, "cost": 2.5, "name": "x"},
      {"tags": [], "count": 3, "cost": 2, "name": "vpn"}],
     ["a", "b", "c"]),
]


@pytest.mark.parametrize(("text", "sample", "written", "items", "fired"), IDIOMS)
def test_python_idioms_are_written_in_rulebook_words(text: str, sample: dict[str, Any], written: list[str],
                                                     items: list[dict[str, Any]], fired: list[str]) -> None:
    policy = engine.loads(translate(text, "rules.yaml", [sample]).text)
    assert [rule.when.text for rule in policy.classification.rules] == written
    assert [d.rule for d in policy.decide_many(items)] == fired


def test_a_comprehension_over_an_input_is_told_at_its_line() -> None:
    with pytest.raises(PolicyError) as raised:
        translate("rules:\n  - {id: a, outcome: x, when: 'any(t == 1 for t in tags)'}\n", "rules.yaml", [{"tags": [1]}])
    (problem,) = raised.value.diagnostics
    assert (str(problem.span), problem.message) == ("rules.yaml:2:31", "comprehensions are not allowed")
    assert "over a list written out" in (problem.hint or "")


def test_fields_of_mappings_become_nested_inputs() -> None:
    text = """\
rules:
  - {id: a, outcome: x, when: "service['tier'] <= 1 and impact['users']['count'] > 400"}
  - {id: b, outcome: x, when: "service['name'] == 'payments' or tags[0] == 'db' or meta['not a name'] == 1"}
  - {id: c, outcome: x, when: "item['cost'] > 3"}
"""
    samples = [{"service": {"tier": 1, "name": "wiki"}, "impact": {"users": {"count": 500}}, "tags": ["db"],
                "meta": {"not a name": 1}, "cost": 5}]  # `item` stands for the whole item, as some engines write it
    translation = translate(text, "rules.yaml", samples)
    assert [(spec.name, spec.type) for spec in translation.inputs] == [
        ("service.tier", "integer"), ("impact.users.count", "integer"), ("service.name", "string"), ("tags", "array"),
        ("meta", "object"), ("cost", "integer")]
    policy = engine.loads(translation.text)
    assert [rule.when.text for rule in policy.classification.rules] == [
        "service.tier <= 1 and impact.users.count > 400",
        "service.name == 'payments' or tags[0] == 'db' or meta['not a name'] == 1", "cost > 3"]
    items = [{**samples[0], "id": 1}, {**samples[0], "service": {"tier": 2, "name": "payments"}},
             {**samples[0], "service": {"tier": 2, "name": "wiki"}, "tags": ["app"], "meta": {"not a name": 2}}]
    assert [d.rule for d in policy.decide_many(items)] == ["a", "b", "c"]


def test_without_samples_the_usual_name_for_the_whole_item_is_the_item() -> None:
    text = "rules:\n  - {id: c, outcome: x, when: \"item['cost'] > 3 and item.get('service', {}).get('tier') == 1\"}\n"
    translation = translate(text, "rules.yaml", [])
    assert [spec.name for spec in translation.inputs] == ["cost", "service.tier"]
    policy = engine.loads(translation.text)
    assert [rule.when.text for rule in policy.classification.rules] == ["cost > 3 and service.tier == 1"]
    assert policy.decide({"cost": 5, "service": {"tier": 1}}).rule == "c"


def test_fields_named_like_functions_or_json_constants_are_inputs() -> None:
    text = """\
default: y
rules:
  - {id: a, outcome: x, when: "len > 2 and max >= len(tags)"}
  - {id: b, outcome: x, when: "null == 1 or flag == true"}
  - {id: c, outcome: x, when: "owner != None and None != team and done == false"}
"""
    # `len`, `max` and `null` are fields of the samples; `true` and `false` are not
    samples = [{"len": 3, "max": 1, "tags": ["a"], "null": 2, "flag": False, "owner": "ann", "team": "ops", "done": False}]
    translation = translate(text, "rules.yaml", samples)
    assert [spec.name for spec in translation.inputs] == ["len", "max", "tags", "null", "flag", "owner", "team", "done"]
    policy = engine.loads(translation.text)
    assert [rule.when.text for rule in policy.classification.rules][1:] == [
        "null == 1 or flag == True", "has(owner) and has(team) and (done == False)"]
    other = {**samples[0], "len": 1}
    items = [samples[0], {**other, "null": 1}, other, {**other, "team": None}]
    assert [d.rule for d in policy.decide_many(items)] == ["a", "b", "c", None]
    constants = translate("rules:\n  - {id: a, outcome: x, when: 'ok == true and note != null'}\n", "rules.yaml",
                          [{"ok": True, "note": "n"}])
    assert engine.loads(constants.text).classification.rules[0].when.text == "ok == True and has(note)"


def test_the_truth_of_numbers_texts_and_lists_is_written_out() -> None:
    text = """\
default: none
rules:
  - {id: a, outcome: x, when: "count and tags"}
  - {id: b, outcome: x, when: "not note or not (owner or funded)"}
"""
    samples = [{"count": 2, "tags": ["a"], "note": "n", "owner": "ann", "funded": True}, {"count": 1, "note": "", "funded": False}]
    policy = engine.loads(translate(text, "rules.yaml", samples).text)
    # some sample lacks `tags` and `owner`: missing is false, as None is in Python
    assert [rule.when.text for rule in policy.classification.rules] == [
        "count != 0 and (has(tags) and len(tags) != 0)", "note == '' or not (has(owner) and owner != '' or funded)"]
    items = [{"count": 1, "tags": ["a"], "note": "n", "funded": True}, {"count": 0, "note": "n", "funded": False},
             {"count": 1, "tags": [], "note": "n", "owner": "", "funded": False}, {"count": 0, "note": "n", "funded": True}]
    assert [d.rule for d in policy.decide_many(items)] == ["a", "b", "b", None]


def test_the_truth_of_a_field_read_with_get_is_written_out() -> None:
    text = """\
default: none
rules:
  - {id: a, outcome: x, when: "item.get('count', 0)"}
  - {id: b, outcome: x, when: "not meta.get('name', '')"}
  - {id: c, outcome: x, when: "meta.get('size')"}
"""
    policy = engine.loads(translate(text, "rules.yaml", [{"count": 1, "meta": {"size": 2, "name": "n"}}, {"meta": {}}]).text)
    assert [rule.when.text for rule in policy.classification.rules] == [
        "has(count) and count != 0 if has(count) else False",
        "not has(meta.name) or meta.name == '' if has(meta.name) else True",
        "has(meta.size) and meta.size != 0"]
    items = [{"count": 0, "meta": {"name": "n"}}, {"count": 2, "meta": {"name": "n"}}, {"meta": {"name": ""}},
             {"meta": {"size": 3, "name": "n"}}, {"meta": {"size": 0, "name": "n"}}]
    assert [d.rule for d in policy.decide_many(items)] == [None, "a", "b", "c", None]


def test_a_field_no_sample_holds_is_typed_by_the_value_get_gives_where_it_is_missing() -> None:
    text = """\
default: none
rules:
  - {id: a, outcome: x, when: "not meta.get('weight', 2) > 1"}
  - {id: b, outcome: x, when: "meta.get('weight', 0)"}
"""
    policy = engine.loads(translate(text, "rules.yaml", [{"meta": {"size": 1}}]).text)
    assert [(spec.name, spec.type) for spec in policy.classification.inputs] == [("meta.weight", "number")]
    assert policy.classification.rules[1].when.text == "has(meta.weight) and meta.weight != 0 if has(meta.weight) else False"
    items = [{"meta": {}}, {"meta": {"weight": 1}}, {"meta": {"weight": 5}}, {"meta": {"weight": 0}}]
    assert [d.rule for d in policy.decide_many(items)] == [None, "a", "b", "a"]


# -- any rule list of Python-like comparisons decides as Python reads it ---------------------------

FIELDS = {"count": st.integers(0, 12), "cost": st.floats(0, 1000, allow_nan=False), "name": st.sampled_from(["vpn", "VPN", "mail", ""]),
          "funded": st.booleans(), "tags": st.lists(st.sampled_from(["vip", "legacy"]), max_size=2),
          "meta": st.fixed_dictionaries({"size": st.integers(0, 9)}, optional={
              "owner": st.sampled_from(["ops", None]), "inner": st.fixed_dictionaries({}, optional={"size": st.integers(0, 5)}),
              "flag": st.booleans()}),
          "owner": st.sampled_from(["ops", "dev", None])}  # None: Python compares it, Rulebook's missing is unknown
comparisons = st.one_of(
    st.builds("{} {} {}".format, st.sampled_from(["count", "cost", "count * 2", "cost - count", "len(name)", "meta['size']"]),
              st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), st.sampled_from(["0", "3", "7.5", "count"])),
    st.builds("name {} 'vpn'".format, st.sampled_from(["==", "!="])),
    st.builds("name {} {}".format, st.sampled_from(["in", "not in"]), st.sampled_from(["('vpn', 'mail')", "['VPN']"])),
    st.sampled_from(["funded", "not funded", "'vip' in tags", "name.lower() == 'vpn'", "name.startswith('V')",
                     "name.endswith(('il', 'pn'))", "len(tags) >= 1", "any(t in tags for t in ('vip', 'mail'))",
                     "all(n >= 1 for n in [count, cost, meta['size']])", "count", "not name", "tags", "not cost",
                     "meta['size']", "meta.get('size', 0) > 4", "not meta.get('weight', 2) > 1",
                     "meta.get('size') == 3", "meta.get('weight', 0)", "not meta.get('size', 1)",
                     "meta.get('label', 'x') == 'x'", "owner == 'ops'", "owner != 'ops'", "'ops' != owner",
                     "owner in ('ops', 'x')", "owner not in ['dev']", "meta.get('owner') != 'ops'",
                     "meta.get('owner') in ['ops']", "owner is None", "owner is not None and owner != 'dev'",
                     "(owner or 'none') == 'none'", "len(owner or '') > 2", "(meta.get('size') or 4) > 3",
                     "(cost or count) > 2", "max(count or 1, 2) == 2", "len(tags or ['x', 'y']) == 2",
                     "meta.get('inner', {}).get('size', 0) > 2", "meta.get('inner', {}).get('size') != 3",
                     "(meta.get('inner', {}).get('size') or 1) > 2", "int(count) > 3", "float(count) / 2 > 1.5",
                     "float(cost) >= 7.5", "str(name) == 'vpn'", "owner is not None and str(owner) == 'ops'", "str(owner) != 'None'",
                     "funded is True", "funded is not False and count > 2", "meta.get('flag') is not True",
                     "owner == meta.get('owner')", "owner != meta.get('owner')", "owner in ('ops', None)",
                     "owner not in ['dev', None]", "meta.get('owner') in (None,)", "name == owner", "owner != name",
                     "'note' in item", "'note' not in item and count > 2", "'count' in item",
                     "name[:2] == 'vp'", "'ma' != name[:2]", "name[-2:] in ('pn', 'il')", "name[-1:] not in ['N']"]),
)
# the only builtins the rule lists call
PYTHON_BUILTINS = {"len": len, "any": any, "all": all, "max": max, "int": int, "float": float, "str": str}
python_conditions = st.recursive(comparisons, lambda inner: st.one_of(
    st.builds("({} and {})".format, inner, inner), st.builds("({} or {})".format, inner, inner),
    st.builds("(not {})".format, inner)), max_leaves=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions=st.lists(python_conditions, min_size=1, max_size=4),
       samples=st.lists(st.fixed_dictionaries(FIELDS, optional={"note": st.just("n")}), min_size=1, max_size=12))
def test_a_translated_rule_list_decides_as_python_reads_it(conditions: list[str], samples: list[dict[str, Any]]) -> None:
    rules = "".join(f"  - id: r{number}\n    outcome: o{number % 2}\n    when: {json.dumps(condition)}\n"
                    for number, condition in enumerate(conditions, start=1))
    every_field = {"count": 1, "cost": 1.5, "name": "x", "funded": True, "tags": ["vip"],
                   "meta": {"size": 1, "owner": "x", "inner": {"size": 1}, "flag": True}, "owner": "x", "note": "x"}  # the types
    items = [{"id": number, **sample} for number, sample in enumerate(samples)]
    policy = engine.loads(translate("strategy: first_match\ndefault: none\nrules:\n" + rules, "rules.yaml",
                                    [every_field, *items]).text)
    for item, verdict in zip(items, policy.decide_many(items)):
        fired = [number for number, condition in enumerate(conditions, start=1)
                 if eval(condition, {"__builtins__": PYTHON_BUILTINS, **item, "item": item})]
        assert (verdict.outcome, verdict.rule) == ((f"o{fired[0] % 2}", f"r{fired[0]}") if fired else ("none", None)), item


@pytest.mark.parametrize(("when", "message"), [("name.strip() == 'a'", "'.strip()' has no translation"),
                                               ("meta.get(name) == 1", "this use of '.get()' has no translation")])
@pytest.mark.parametrize("samples", [[], [{"name": " a ", "meta": {}}]])
def test_a_method_without_a_translation_is_named(when: str, message: str, samples: list[Any]) -> None:
    # named as such whether or not samples hold the field it is called on
    with pytest.raises(PolicyError) as raised:
        translate(f"rules:\n  - {{id: a, outcome: x, when: \"{when}\"}}\n", "rules.yaml", samples)
    assert [(d.message, str(d.span)) for d in raised.value.diagnostics] == [(message, "rules.yaml:2:31")]


def test_a_null_where_get_gives_a_value_for_missing_is_pointed_out(write: Any, tmp_path: Path) -> None:
    # Python's get() gives None for a key holding null; Rulebook counts null as missing
    text = "rules:\n  - {id: a, outcome: x, when: \"meta.get('level', 'none') == 'none' and meta.get('size', 0) > 1\"}\n"
    assert translate(text, "rules.yaml", [{"meta": {"level": None, "size": 2}}, {"meta": {}}]).null_defaults == ("meta.level",)
    assert translate(text, "rules.yaml", [{"meta": {"size": None}}, {"meta": {"level": "x"}}]).null_defaults == ("meta.size",)
    assert translate(text, "rules.yaml", [{"meta": {}}, {}]).null_defaults == ()
    samples = write("items.jsonl", '{"meta": {"level": null, "size": 2}}\n{"meta": {"level": "x"}}\n')
    written = run("import", str(write("rules.yaml", text)), "--items", str(samples), "-o", str(tmp_path / "out.yaml"))
    assert written.exit_code == 0
    assert ("rulebook: some sample items hold null for 'meta.level', which Python's get() gives as None; Rulebook "
            "counts null as missing, so the translation reads the value given for missing\n") in written.stderr


def test_a_key_tested_on_the_whole_item_is_whether_the_item_holds_it(write: Any, tmp_path: Path) -> None:
    text = "default: none\nrules:\n  - {id: a, outcome: x, when: \"'owner' in item\"}\n  - {id: b, outcome: y, when: \"'team' not in item\"}\n"
    translation = translate(text, "rules.yaml", [{"owner": "ann", "team": "ops"}, {"team": "dev"}])
    policy = engine.loads(translation.text)
    assert [rule.when.text for rule in policy.classification.rules] == ["has(owner)", "not has(team)"]
    assert [d.rule for d in policy.decide_many([{"owner": "bo", "team": "x"}, {"team": "x"}, {}])] == ["a", None, "b"]
    assert translation.null_members == ()
    # a null Python counts as there, Rulebook as missing: pointed out
    samples = write("items.jsonl", '{"owner": null, "team": "ops"}\n{"owner": "ann"}\n')
    written = run("import", str(write("rules.yaml", text)), "--items", str(samples), "-o", str(tmp_path / "out.yaml"))
    assert written.exit_code == 0
    assert ("rulebook: some sample items hold null for 'owner', which Python's 'owner' in item counts as there; "
            "Rulebook counts null as missing, so the translation's has(owner) is false there\n") in written.stderr


def test_the_start_or_end_of_a_text_compared_with_a_text_of_its_length_is_a_pattern() -> None:
    text = """\
default: none
rules:
  - {id: a, outcome: x, when: "title[:3] == 'SEC' or 'OPS' == title[:3]"}
  - {id: b, outcome: x, when: "code[-2:] in ('EU', 'US') and title[:1] != 'x'"}
"""
    policy = engine.loads(translate(text, "rules.yaml", [{"title": "SEC-1", "code": "1-EU"}]).text)
    assert [rule.when.text for rule in policy.classification.rules] == [
        "matches(title, '^SEC') or matches(title, '^OPS')", "matches(code, '(?:EU|US)$') and (not matches(title, '^x'))"]
    items = [{"title": "SE", "code": "EU"}, {"title": "OPS-2", "code": "1"}, {"title": "x", "code": "2-US"},
             {"title": "y", "code": "US"}, {"title": "y", "code": "EU\n"}]
    assert [d.rule for d in policy.decide_many(items)] == ["b", "a", None, "b", None]
    # a text of another length would equal a shorter one whole: not translated
    with pytest.raises(PolicyError, match="slices are not allowed"):
        translate("rules:\n  - {id: a, outcome: x, when: \"title[:3] == 'ab'\"}\n", "rules.yaml", [{"title": "ab"}])


def test_rules_may_name_their_parts_as_other_engines_do() -> None:
    text = "rules:\n  - {id: a, then: big, condition: cost > 10}\n  - {id: b, result: small, if: cost <= 10}\n"
    policy = engine.loads(translate(text, "rules.yaml", [{"cost": 1}]).text)
    assert [(rule.id, rule.outcome, rule.when.text) for rule in policy.classification.rules] == [
        ("a", "big", "cost > 10"), ("b", "small", "cost <= 10")]
    with pytest.raises(PolicyError) as raised:
        translate("rules:\n  - {id: a, then: big, condition: 'cost >'}\n", "rules.yaml", [{"cost": 1}])
    assert str(raised.value.diagnostics[0].span) == "rules.yaml:2:35"
