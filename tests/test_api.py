"""The Python API: what a caller passes in the wrong shape is a UsageError that says so."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import engine
from engine.errors import UsageError

from .conftest import POLICIES


def test_a_policy_path_may_be_a_pathlib_path() -> None:
    assert engine.load(pathlib.Path(POLICIES)).name == engine.load([pathlib.Path(POLICIES)]).name == "demand-intake"
    text = (pathlib.Path(POLICIES) / "demand-intake.yaml").read_bytes()
    assert engine.loads(text).name == "demand-intake"  # bytes, as an HTTP body holds them, are UTF-8 text


@pytest.mark.parametrize(("call", "message"), [
    (lambda: engine.load(None), "name a policy file or folder (text or a pathlib.Path), or a list of them, not None"),
    (lambda: engine.load([]), "or a list of them, not an empty list"),
    (lambda: engine.load(42), "or a list of them, not int 42"),
    (lambda: engine.loads(None), "loads() reads the YAML text of a policy, not None"),
    (lambda: engine.loads(b"name: caf\xe9"), "the policy text is not UTF-8 (unexpected end of data at byte 9)"),
    (lambda: engine.loads(""), "the policy set holds no policy"),
    (lambda: engine.load(str(POLICIES), as_of="yesterday"), "as_of must be a date, a date-time or its ISO text"),
])
def test_what_cannot_be_loaded_is_a_usage_error(call: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_a_batch_must_be_items_not_one_item_or_a_file_name() -> None:
    policy = engine.load(str(POLICIES))
    item = {"id": "A", "type": "incident"}
    for call in (policy.decide_many, lambda items: list(policy.classify_all(items)),
                 lambda items: list(policy.gate_all(items)), lambda items: engine.diff(policy, policy, items)):
        for wrong in (item, "examples/items.jsonl", None, 3):
            with pytest.raises(UsageError, match="expected items"):
                call(wrong)
    assert [v.outcome for v in policy.decide_many(iter([item]))] == ["routine_ticket"]  # any iterable


def test_an_unknown_explanation_format_is_a_usage_error_and_a_value_error() -> None:
    policy = engine.load(str(POLICIES))
    decision = policy.classify({"id": "A", "type": "incident"}, trace=True)
    gate = policy.gate({"id": "A", "type": "idea", "stage": "definition", "outcome": "initiative"})
    for result in (decision, gate):
        with pytest.raises(UsageError, match="unknown explanation format 'html': one of text, markdown, json"):
            result.explain("html")
    with pytest.raises(ValueError):  # as Python's own errors for a bad argument are
        decision.explain("html")
    assert repr(decision) == "Decision(item_id='A', outcome='routine_ticket', rule='standard-service-work')"
