"""The JSONL fast lane writes exactly what the general path writes, for every kind of line."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import PolicyError
from engine.stream import run

from .conftest import POLICIES
from .test_compile import condition_trees as random_conditions
from .test_compile import items as random_items
from .test_compile import policy_with

SCALAR_POLICY = """\
rulebook: 1
kind: classification
name: lane
inputs:
  kind: {type: string, enum: [incident, request, problem]}
  level: {type: string, enum: [low, high], default: low}
  count: {type: integer, minimum: 0, maximum: 100}
  cost: {type: number, minimum: 0}
  flag: {type: boolean, default: false}
  note: string
  spare: integer
  tier: {type: integer, enum: [1, 2, 3, 9], maximum: 4, default: 3}
outcomes: [a, b, c]
hit: HIT
DEFAULT
rules:
  - {id: r1, outcome: a, when: "count >= 10 and level == 'high'", priority: 1}
  - {id: r2, outcome: b, when: "cost / count > 2 or flag", priority: 3}
  - {id: r3, outcome: c, when: "kind in ['problem', 'request'] and has(note)", priority: 2}
  - {id: r4, outcome: a, when: "lower(note) == 'x'", priority: 2}
  - {id: r5, outcome: b, when: "tier == 1 or (tier < 3 and kind == 'problem')", priority: 2}
"""


def policy(hit: str = "first", default: bool = True) -> engine.Policy:
    text = SCALAR_POLICY.replace("HIT", hit).replace("DEFAULT", "default: c" if default else "")
    if hit != "priority":
        text = text.replace(", priority: 1}", "}").replace(", priority: 2}", "}").replace(", priority: 3}", "}")
    return engine.loads(text)


def both_paths(policy: engine.Policy, data: bytes, id_field: str = "id",
               trace: bool = False) -> tuple[tuple[bytes, Any], tuple[bytes, Any]]:
    classifier = policy.classifier
    outputs = []
    for with_lane in (True, False):
        lane = classifier.jsonl_lane
        if not with_lane:
            classifier.jsonl_lane = lambda *args: None  # type: ignore[method-assign]
        out = io.BytesIO()
        try:
            tally = run(classifier, io.BytesIO(data), "jsonl", "jsonl", out, id_field=id_field, trace=trace)
        finally:
            classifier.jsonl_lane = lane  # type: ignore[method-assign]
        outputs.append((out.getvalue(), (tally.items, tally.rejected, dict(tally.labels))))
    return outputs[0], outputs[1]


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 120), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from(["incident", "request", "problem", "high", "low", "x", "X", ""]), st.just([1]))
good = {"kind": st.sampled_from(["incident", "request", "problem"]), "level": st.sampled_from(["low", "high"]),
        "count": st.integers(0, 100), "cost": st.one_of(st.integers(0, 500), st.floats(0, 500)), "flag": st.booleans(),
        "note": st.sampled_from(["x", "X", "y"]), "spare": st.integers(-5, 5), "tier": st.sampled_from([1, 2, 3, 3, 9])}


@st.composite
def lines(draw: Any) -> bytes:
    shape = draw(st.sampled_from(["clean", "clean", "clean", "partial", "odd", "broken", "blank", "stray byte"]))
    if shape == "blank":
        return b"   "
    if shape == "broken":
        return draw(st.sampled_from([b"not json", b'{"kind": "incident",', b"[1, 2]", b'"text"', b'{"kind": "incident"} x', b"\xff\xfe"]))
    item: dict[str, Any] = {}
    if draw(st.booleans()):
        item["id"] = draw(st.one_of(st.text(max_size=5), st.integers(), st.none(), st.floats(allow_nan=False)))
    for name, strategy in good.items():
        if shape == "clean" or draw(st.booleans()):
            item[name] = draw(strategy if shape != "odd" or draw(st.booleans()) else values)
    item["extra"] = draw(values)
    line = json.dumps(item).encode()
    if shape == "stray byte":  # Latin-1 where UTF-8 is due, in a field the policy declares or not
        field = draw(st.sampled_from([b'"extra": ', b'"note": ', b'"kind": ', b'"id": ']))
        line = line.replace(field, field + b'"caf\xe9", "was": ', 1) if field in line else b'{"title": "caf\xe9"}'
    return line


@settings(max_examples=200, deadline=None)
@given(stream=st.lists(lines(), max_size=12), hit=st.sampled_from(["first", "priority", "unique", "collect"]),
       default=st.booleans(), trace=st.booleans())
def test_the_lane_writes_what_the_general_path_writes(stream: list[bytes], hit: str, default: bool, trace: bool) -> None:
    fast, general = both_paths(policy(hit, default), b"\n".join(stream) + b"\n", trace=trace)
    assert fast == general


def test_the_lane_decides_clean_lines_itself() -> None:
    classifier = policy().classifier
    lane = classifier.jsonl_lane("id", lambda raw, number: pytest.fail(f"line {number} left the lane"))
    out = io.BytesIO()
    from engine.stream import Tally

    tally = Tally()
    line = b'{"id": 1, "kind": "incident", "count": 12, "level": "high", "cost": 3, "note": "y", "spare": 1}\n'
    lane.run(io.BytesIO(line * 3), out, tally)
    assert tally.items == 3 and out.getvalue().count(b'"rule":"r1"') == 3


def test_lines_lacking_optional_inputs_or_holding_null_are_decided_in_the_lane() -> None:
    # null counts as absent: `level` and `tier` take their defaults, `note` is unknown (r4 does
    # not fire) and has(note) is false
    classifier = policy().classifier
    lane = classifier.jsonl_lane("id", lambda raw, number: pytest.fail(f"line {number} left the lane"))
    from engine.stream import Tally

    lines = b'{"id": 1, "kind": "problem", "count": 1, "cost": 0, "note": null, "level": null, "tier": null}\n' \
            b'{"id": 2, "kind": "problem", "count": 1, "cost": 0, "tier": 2}\n' \
            b'{"id": 3, "kind": "request", "count": 1, "cost": 0, "note": "X", "spare": null}\n'
    out = io.BytesIO()
    lane.run(io.BytesIO(lines), out, Tally())
    assert [json.loads(line)["rule"] for line in out.getvalue().splitlines()] == [None, "r5", "r3"]
    assert both_paths(policy(), lines)[0][0] == out.getvalue()


def test_a_byte_that_is_not_utf8_rejects_its_line_in_the_lane_too() -> None:
    # the record decoder skips the fields the policy does not declare, unread: the lane checks
    # the line's bytes itself, so it rejects what the general path (and every other format) rejects
    lines = b'{"id": 1, "kind": "incident", "count": 1, "cost": 1, "title": "caf\xe9"}\n' \
            b'{"id": 2, "kind": "incident", "count": 1, "cost": 1, "title": "caf\xc3\xa9"}\n'
    for shaped in (policy(), engine.loads(NESTED_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c"))):
        fast, general = both_paths(shaped, lines)
        assert fast == general and fast[1][:2] == (2, 1)
        first = json.loads(fast[0].splitlines()[0])
        assert (first["id"], first["error"]) == (1, "item is not valid UTF-8")
        # past LAX_AFTER lines the second decoder reads, which skips such fields too
        from engine.fastpath import LAX_AFTER

        whole = b'{"id": 3, "kind": "incident", "count": 1.0, "cost": 1}\n'
        fast, general = both_paths(shaped, whole * LAX_AFTER + lines)
        assert fast == general and fast[1][1] == 1


def test_the_default_policy_and_its_examples_take_the_lane() -> None:
    from .conftest import EXAMPLES

    shipped = engine.load(str(POLICIES))
    assert shipped.classifier.forms.decide_record is not None
    fast, general = both_paths(shipped, (EXAMPLES / "items.jsonl").read_bytes())
    assert fast == general and fast[1][0] == 48


def test_a_custom_id_field_that_is_also_an_input() -> None:
    text = SCALAR_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c").replace(", priority: 1}", "}") \
        .replace(", priority: 2}", "}").replace(", priority: 3}", "}")
    shipped = engine.loads(text)
    data = b'{"kind": "problem", "note": "x", "count": 1, "cost": 0}\n{"kind": "request", "count": 2, "cost": 1}\n'
    fast, general = both_paths(shipped, data, id_field="kind")
    assert fast == general and b'"id":"problem"' in fast[0]


NESTED_POLICY = """\
rulebook: 1
kind: classification
name: nested-lane
inputs:
  kind: {type: string, enum: [incident, request, problem], required: true}
  owner.team: string
  owner.size: {type: integer, minimum: 0, default: 1}
  owner.site.region: {type: string, enum: [eu, us], default: eu}
  tags: {type: array, items: {type: string}, default: []}
  scores: {type: array, items: {type: number, minimum: 0}}
  opened: date
outcomes: [a, b, c]
hit: HIT
DEFAULT
rules:
  - {id: r1, outcome: a, when: "owner.team == 'ops' and owner.size > 2"}
  - {id: r2, outcome: b, when: "'vip' in tags or days_between(opened, '2026-06-01') > 30"}
  - {id: r3, outcome: a, when: "owner.site.region == 'us' and len(scores) > 1"}
  - {id: r4, outcome: c, when: "kind == 'problem'"}
  - {id: r5, outcome: b, when: "days_since(opened) <= 35.5"}
"""
nested_good = {"kind": st.sampled_from(["incident", "request", "problem"]),
               "owner": st.fixed_dictionaries({}, optional={
                   "team": st.sampled_from(["ops", "dev"]), "size": st.integers(0, 5),
                   "site": st.fixed_dictionaries({}, optional={"region": st.sampled_from(["eu", "us"])})}),
               "tags": st.lists(st.sampled_from(["vip", "x"]), max_size=3),
               "scores": st.lists(st.one_of(st.integers(0, 9), st.floats(0, 9)), max_size=3),
               "opened": st.sampled_from(["2026-01-02", "2026-05-30", "2026-05-01T10:00:00Z", "2026-05-01 23:59",
                                          "2026-05-01T10:00:00.1234567+05:30", "2026-05-01T10:00"])}
nested_odd = st.one_of(values, st.sampled_from([
    "2026-W01-1", "2026-1-02", "20260102", "2026-02-30", " 2026-01-02", "2026-01-02T00:00:00Z", "0000-01-01",
    "2026-05-01T24:00:00Z", "2026-05-01T10:00:00+05", "2026-05-01T10Z", "2026-05-01T10:00:00.9999999z",
    "2026-05-01T23:59:60Z", " 2026-05-01T10:00:00Z ", "20260501T100000",
    "eu", "us", "vip", 2.0, -1, {}, {"team": "ops", "size": 3.0}, {"team": None, "site": None}, {"site": {"region": "x"}},
    ["vip", None], ["vip", 1], [1.5, -1], [1, True], [[1]]]))


# what days_since() counts to: a date, or a moment (the items' dates are around a month before)
AS_OF = [dt.date(2026, 6, 5), dt.datetime(2026, 6, 5, 12, tzinfo=dt.UTC)]


@st.composite
def nested_lines(draw: Any) -> bytes:
    shape = draw(st.sampled_from(["clean", "clean", "partial", "odd", "broken"]))
    if shape == "broken":
        return draw(st.sampled_from([b"not json", b"[1, 2]", b"null", b"", b'{"kind": "problem"} x']))
    item: dict[str, Any] = {"id": draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))}
    for name, strategy in nested_good.items():
        if shape == "clean" or draw(st.booleans()):
            item[name] = draw(strategy if shape != "odd" or draw(st.booleans()) else nested_odd)
    if shape == "odd" and draw(st.booleans()):  # a flat key written with dots
        item[draw(st.sampled_from(["owner.team", "owner.size", "owner.site.region", "owner.site"]))] = \
            draw(st.sampled_from(["ops", "us", 4, None]))
    return json.dumps(item).encode()


@settings(max_examples=300, deadline=None)
@given(stream=st.lists(nested_lines(), max_size=10), hit=st.sampled_from(["first", "collect"]), default=st.booleans(),
       id_field=st.sampled_from(["id", "kind", "opened", "owner"]),
       owner=st.sampled_from(["", "owner: object", "owner: {type: object, required: true}"]),
       opened=st.sampled_from(["date", "datetime", "{type: datetime, default: '2026-05-02T00:00:00Z'}",
                               "{type: datetime, required: true}"]),
       record=st.booleans(), trace=st.booleans(), as_of=st.sampled_from(AS_OF))
def test_policies_with_nested_listed_or_dated_inputs_take_a_lane_that_writes_what_the_general_path_writes(
        stream: list[bytes], hit: str, default: bool, id_field: str, owner: str, opened: str, record: bool,
        trace: bool, as_of: Any) -> None:
    text = NESTED_POLICY.replace("HIT", hit).replace("DEFAULT", "default: c" if default else "")
    text = text.replace("inputs:\n", f"inputs:\n  {owner}\n" if owner else "inputs:\n")
    text = text.replace("opened: date", f"opened: {opened}")
    if "datetime" in opened:
        text = text.replace("'2026-06-01'", "'2026-06-01T12:00:00Z'")
    if not record:  # lists of lists are checked by the general checker: items stay mappings
        text = text.replace("inputs:\n", "inputs:\n  grid: {type: array, items: {type: array}}\n")
    shaped = engine.loads(text, as_of=as_of)
    assert (shaped.classifier.forms.decide_record is not None) == record
    fast, general = both_paths(shaped, b"\n".join(stream) + b"\n", id_field, trace)
    assert fast == general


def test_nested_inputs_written_as_flat_keys_with_dots_are_read_as_the_general_path_reads_them() -> None:
    shaped = engine.loads(NESTED_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c"))
    assert shaped.classifier.forms.decide_record is not None
    lines = b'{"id": 1, "kind": "incident", "owner": {"size": 3}, "owner.team": "ops"}\n' \
            b'{"id": 2, "kind": "incident", "owner.team": "ops", "owner.size": 4}\n' \
            b'{"id": 3, "kind": "incident", "owner": {"site": {}}, "owner.site.region": "us", "scores": [1, 2]}\n' \
            b'{"id": 4, "kind": "incident", "owner": {"team": "ops", "size": 3}, "owner.team": "dev"}\n'
    fast, general = both_paths(shaped, lines)
    assert fast == general
    assert [json.loads(line)["rule"] for line in fast[0].splitlines()] == ["r1", "r1", "r3", "r1"]


def test_a_nested_record_decides_clean_lines_in_the_lane() -> None:
    shaped = engine.loads(NESTED_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c"))
    lane = shaped.classifier.jsonl_lane("id", lambda raw, number: pytest.fail(f"line {number} left the lane"))
    from engine.stream import Tally

    out, tally = io.BytesIO(), Tally()
    lines = b'{"id": 1, "kind": "incident", "owner": {"team": "ops", "size": 3}, "opened": "2026-05-30"}\n' \
            b'{"id": 2, "kind": "request", "tags": ["vip"], "spare": {"any": "thing"}}\n' \
            b'{"id": 3, "kind": "problem", "owner": {"site": {"region": "us"}}, "scores": [0.5, 2], "opened": "2026-05-30"}\n'
    lane.run(io.BytesIO(lines), out, tally)
    assert [json.loads(line)["rule"] for line in out.getvalue().splitlines()] == ["r1", "r2", "r3"]


def test_date_times_as_exports_write_them_are_decided_in_the_lane() -> None:
    shaped = engine.loads(NESTED_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c")
                          .replace("opened: date", "opened: datetime").replace("'2026-06-01'", "'2026-06-01T00:00:00Z'"))
    lane = shaped.classifier.jsonl_lane("id", lambda raw, number: pytest.fail(f"line {number} left the lane"))
    from engine.stream import Tally

    out = io.BytesIO()
    lines = b'{"id": 1, "kind": "incident", "opened": "2026-04-01T10:00"}\n' \
            b'{"id": 2, "kind": "incident", "opened": "2026-05-31 12:00:00"}\n' \
            b'{"id": 3, "kind": "incident", "opened": "2026-04-01T10:00:00.5-02:00"}\n' \
            b'{"id": 4, "kind": "incident", "opened": null}\n'
    lane.run(io.BytesIO(lines), out, Tally())
    assert [json.loads(line)["rule"] for line in out.getvalue().splitlines()] == ["r2", None, "r2", None]


def test_whole_floats_for_integers_and_null_mappings_are_decided_in_the_lane() -> None:
    # as exporters write them: the checker reads 3.0 as 3, and a null mapping as absent
    shaped = engine.loads(NESTED_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c")
                          .replace("items: {type: number, minimum: 0}", "items: {type: integer, minimum: 0}"))
    errors: list[int] = []
    lane = shaped.classifier.jsonl_lane("id", lambda raw, number: errors.append(number) or (b"error\n", "rejected"))
    from engine.stream import Tally

    lines = b'{"id": 1, "kind": "incident", "owner": {"team": "ops", "size": 3.0}}\n' \
            b'{"id": 2.0, "kind": "incident", "owner": null, "scores": [1.0, 2]}\n' \
            b'{"id": 3, "kind": "problem", "owner": {"site": null}}\n' \
            b'{"id": 4, "kind": "incident", "owner": {"team": "ops", "size": 3.5}}\n' \
            b'{"id": 5, "kind": "incident", "scores": [1, -1.0]}\n'
    out = io.BytesIO()
    lane.run(io.BytesIO(lines), out, Tally())
    assert [json.loads(line)["rule"] for line in out.getvalue().splitlines()[:3]] == ["r1", None, "r4"]
    assert errors == [4, 5]
    fast, general = both_paths(shaped, lines)
    assert fast == general and b'"id":2.0,' in fast[0]
    # past LAX_AFTER such lines, the second decoder reads every line: the same bytes
    from engine.fastpath import LAX_AFTER

    fast, general = both_paths(shaped, lines * (LAX_AFTER // 2))
    assert fast == general and fast[1][:2] == (5 * (LAX_AFTER // 2), 2 * (LAX_AFTER // 2))


@pytest.mark.parametrize("text", [NESTED_POLICY.replace("HIT", "first").replace("DEFAULT", "default: c"), None])
def test_a_line_longer_than_an_item_may_be_is_an_error_on_every_lane(text: str | None) -> None:
    shaped = engine.loads(text) if text else policy()
    huge = json.dumps({"id": 1, "kind": "problem", "count": 1, "cost": 1, "padding": "x" * (16 * 1024 * 1024)}).encode()
    fast, general = both_paths(shaped, b'{"id": 0, "kind": "problem", "count": 1, "cost": 1}\n' + huge + b"\n")
    assert fast == general and fast[1][:2] == (2, 1) and b"line is longer than 16 MiB" in fast[0]


def test_lines_without_an_optional_input_are_decided_as_the_general_path_decides_them() -> None:
    # `note` is optional: a rule reading it is unknown for these lines and does not fire
    lines = b'{"id": 1, "kind": "incident", "count": 12, "level": "high", "cost": 3}\n' \
            b'{"id": 2, "kind": "request", "count": 1, "cost": 0}\n' \
            b'{"id": 3, "kind": "request", "count": 1, "cost": 0, "note": null}\n'
    fast, general = both_paths(policy(), lines)
    assert fast == general and b'"rule":"r1"' in fast[0] and fast[1][:2] == (3, 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions=st.lists(random_conditions(), min_size=1, max_size=4),
       hit=st.sampled_from(["first", "priority", "unique", "collect"]), samples=st.lists(random_items(), min_size=1, max_size=8),
       nulls=st.lists(st.sampled_from(["count", "funded", "title", "tags", "opened", "meta", "level", "cost"]), max_size=2),
       trace=st.booleans())
def test_random_policies_write_the_same_lines_on_the_lane_as_on_the_general_path(
        conditions: list[Any], hit: str, samples: list[dict[str, Any]], nulls: list[str], trace: bool) -> None:
    try:
        shaped = policy_with(conditions, hit)
    except PolicyError:
        assume(False)
        return
    for item in samples[::2]:
        item.update(dict.fromkeys(nulls))  # null counts as absent
    fast, general = both_paths(shaped, b"".join(json.dumps(item).encode() + b"\n" for item in samples), trace=trace)
    assert fast == general


@pytest.mark.parametrize("trace", [False, True])
def test_an_item_nested_more_deeply_than_items_may_be_is_rejected_in_the_lane_too(trace: bool) -> None:
    # from Python 3.12 on, the parsers no longer run out of room at 1,000 levels: the engine
    # measures how deep a line with brackets enough may be, on any Python, in any lane
    base = '{"id": "ID", "kind": "incident", "count": 1, "cost": 1, "note": "y", "extra": EXTRA}'
    extras = {
        "999 lists deep": "[" * 999 + "]" * 999,  # with the item, 1,000 levels: allowed
        "1,000 lists deep": "[" * 1000 + "]" * 1000,
        "5,000 lists deep": "[" * 5000 + "]" * 5000,
        "1,001 lists side by side": "[" + ", ".join(["[]"] * 1001) + "]",
        "brackets in a text": '"' + "[{" * 3000 + '"',
    }
    data = "\n".join(base.replace("ID", name).replace("EXTRA", extra) for name, extra in extras.items()).encode()
    lane, general = both_paths(policy(), data, trace=trace)
    assert lane == general
    records = [json.loads(line) for line in lane[0].splitlines()]
    too_deep = "nested too deeply: an item may hold lists and objects 1,000 levels deep at most"
    assert [record.get("error") for record in records] == [None, too_deep, too_deep, None, None]
    assert [record.get("outcome") for record in records] == ["c", None, None, "c", "c"]
