"""Gate stage: evidence, conditions, quorum approvals, skipping, applies_to and the outcome the gates read."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from engine.errors import ItemError, UsageError
from engine.evaluate import Rejection
from engine.gates import ApprovalCheck, EvidenceCheck, GateResult

from .conftest import gates_text, policy_text

GATES = """
- to: analysis
  require: [problem_statement, sponsor]
- to: approval
  when:
    - {id: within-budget, when: cost <= budget, because: It must fit the budget.}
    - "risk != 'high'"
- to: charter
  because: Money.
  approvals: {from: board, rule: majority}
"""


def load(gates: str = GATES, **options: Any) -> engine.Policy:
    return engine.loads(gates_text(gates, **options))


def votes(*pairs: str) -> list[dict[str, str]]:
    """votes("ana+", "ben-") -> ana approves, ben rejects."""
    return [{"by": pair[:-1], "vote": "approve" if pair[-1] == "+" else "reject"} for pair in pairs]


def approval(policy: engine.Policy, ballot: list[dict[str, str]] | None, rule: str = "majority", **item: Any) -> ApprovalCheck:
    fields: dict[str, Any] = {"id": "I", "stage": "approval", **item}
    if ballot is not None:
        fields["approvals"] = ballot
    result = policy.gate(fields)
    (check,) = [c for c in result.criteria if c.kind == "approval"]
    assert isinstance(check, ApprovalCheck)
    assert result.result == ("pass" if check.status == "met" else "fail")
    return check


def test_an_item_that_meets_every_criterion_passes() -> None:
    result = load().gate({"id": "I-1", "stage": "definition", "problem_statement": "Slow.", "sponsor": "CIO"})
    assert isinstance(result, GateResult)
    assert (result.stage, result.target, result.result) == ("definition", "analysis", "pass")
    assert [(c.kind, c.name, c.status) for c in result.criteria] == [
        ("evidence", "problem_statement", "met"), ("evidence", "sponsor", "met")]
    assert result.held_by == ()


# -- evidence ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, met", [
    ("Slow.", True), (0, True), (False, True), ([1], True), ({"a": 1}, True),
    ("", False), ("   \t", False), ([], False), ({}, False), (None, False),
])
def test_evidence_must_be_there_and_not_empty(value: Any, met: bool) -> None:
    result = load().gate({"stage": "definition", "problem_statement": value, "sponsor": "CIO"})
    check = result.criteria[0]
    assert isinstance(check, EvidenceCheck)
    assert (check.status, result.result) == (("met", "pass") if met else ("not_met", "fail"))
    assert check.missing == (value is None)
    assert check.value == (None if value is None else value)


def test_missing_evidence_is_named() -> None:
    result = load().gate({"stage": "definition", "sponsor": "CIO"})
    (held,) = result.held_by
    assert (held.kind, held.name, held.status, held.missing) == ("evidence", "problem_statement", "not_met", True)


def test_evidence_may_be_a_nested_field() -> None:
    policy = load("- {to: analysis, require: [documents.business_case]}\n")
    assert policy.gate({"stage": "definition", "documents": {"business_case": "url"}}).result == "pass"
    assert policy.gate({"stage": "definition", "documents": {}}).result == "fail"


# -- conditions ----------------------------------------------------------------------------------------------


def test_conditions_are_met_not_met_or_unknown() -> None:
    policy = load()
    met = policy.gate({"stage": "analysis", "cost": 10, "budget": 20})
    assert [(c.name, c.status) for c in met.criteria] == [("within-budget", "met"), ("risk != 'high'", "met")]
    assert met.result == "pass"
    not_met = policy.gate({"stage": "analysis", "cost": 30, "budget": 20, "risk": "high"})
    assert [c.status for c in not_met.criteria] == ["not_met", "not_met"] and not_met.result == "fail"
    unknown = policy.gate({"stage": "analysis", "cost": 30})
    assert [c.status for c in unknown.criteria] == ["unknown", "met"]
    assert unknown.result == "fail"  # an unknown criterion holds the item back


def test_a_condition_carries_its_text_reason_and_the_values_it_read() -> None:
    check = load().gate({"stage": "analysis", "cost": 30}).criteria[0]
    assert (check.text, check.because) == ("cost <= budget", "It must fit the budget.")
    assert [(f.name, f.value, f.source) for f in check.inputs] == [("cost", 30, "item"), ("budget", None, "missing")]


def test_a_tree_condition_is_three_valued_as_in_classification() -> None:
    policy = load("- to: analysis\n  when: {any: [cost < 10, {not: budget > 5}]}\n")
    assert policy.gate({"stage": "definition", "cost": 5}).criteria[0].status == "met"  # true or unknown
    assert policy.gate({"stage": "definition", "cost": 50}).criteria[0].status == "unknown"  # false or unknown
    assert policy.gate({"stage": "definition", "cost": 50, "budget": 9}).criteria[0].status == "not_met"
    assert policy.gate({"stage": "definition", "cost": 50}).criteria[0].text == "cost < 10 or not (budget > 5)"


def test_a_condition_that_fails_on_the_item_is_an_item_error() -> None:
    policy = load("- {to: analysis, when: cost / budget > 1}\n")
    with pytest.raises(ItemError, match="division by zero in 'cost / budget > 1'"):
        policy.gate({"stage": "definition", "cost": 1, "budget": 0})


# -- approvals: every quorum edge ----------------------------------------------------------------------------

FOUR = "roster:\n  board: [ana, ben, cho, dev]\n"
FIVE = "roster:\n  board: [ana, ben, cho, dev, eli]\n"


def quorum(rule: str, roster: str = FIVE, veto: str = "") -> engine.Policy:
    return load(f"- {{to: analysis}}\n- {{to: approval}}\n- to: charter\n  approvals: {{from: board, rule: {rule}{veto}}}\n",
                roster=roster)


def test_majority_is_more_than_half_of_the_group_not_of_the_votes() -> None:
    four, five = quorum("majority", FOUR), quorum("majority", FIVE)
    assert approval(four, votes("ana+", "ben+")).status == "not_met"  # 2 of 4 is exactly half
    assert approval(four, votes("ana+", "ben+", "cho+")).status == "met"
    assert approval(five, votes("ana+", "ben+")).status == "not_met"
    assert approval(five, votes("ana+", "ben+", "cho+")).status == "met"  # 3 of 5
    # two votes cast, both approve: a majority of the votes, not of the group
    check = approval(five, votes("ana+", "ben+"))
    assert (check.approved, check.needed, check.rule) == (2, 3, "majority")


def test_unanimous_needs_every_member() -> None:
    policy = quorum("unanimous", FOUR)
    assert approval(policy, votes("ana+", "ben+", "cho+", "dev+")).status == "met"
    assert approval(policy, votes("ana+", "ben+", "cho+")).status == "not_met"
    assert approval(policy, votes("ana+", "ben+", "cho+", "dev-")).status == "not_met"


def test_at_least_n() -> None:
    policy = quorum("{at_least: 2}")
    assert approval(policy, votes("ana+")).status == "not_met"
    assert approval(policy, votes("ana+", "ben-", "cho+")).status == "met"


def test_one_reject_from_a_veto_member_fails_whatever_the_count() -> None:
    policy = quorum("majority", veto=", veto: [eli]")
    check = approval(policy, votes("ana+", "ben+", "cho+", "dev+", "eli-"))
    assert (check.status, check.approved, check.vetoed_by, check.rejected_by) == ("not_met", 4, ("eli",), ("eli",))
    # a reject from a member without a veto is just a vote
    assert approval(policy, votes("ana+", "ben+", "cho+", "dev-")).status == "met"


def test_the_last_vote_of_a_member_counts_and_earlier_ones_are_reported() -> None:
    policy = quorum("majority")
    check = approval(policy, votes("ana+", "ben+", "cho+", "ana-"))
    assert (check.status, check.approvers, check.rejected_by) == ("not_met", ("ben", "cho"), ("ana",))
    assert [(v.by, v.vote, v.position) for v in check.superseded] == [("ana", "approve", 1)]
    changed_mind = approval(policy, votes("ana-", "ben+", "ana+", "cho+"))
    assert changed_mind.status == "met" and changed_mind.approved == 3
    twice = approval(policy, votes("ana+", "ana+", "ben+"))
    assert twice.approved == 2 and len(twice.superseded) == 1  # one person, one vote


def test_a_veto_is_lifted_by_a_later_approve_of_the_same_member() -> None:
    policy = quorum("majority", veto=", veto: [eli]")
    check = approval(policy, votes("eli-", "ana+", "ben+", "eli+"))
    assert (check.status, check.vetoed_by, check.approved) == ("met", (), 3)


def test_votes_from_outside_the_group_are_ignored_and_reported() -> None:
    policy = quorum("majority")
    check = approval(policy, votes("ana+", "ben+", "zed+", "yan+"))
    assert (check.status, check.approved) == ("not_met", 2)
    assert [(v.by, v.vote) for v in check.ignored] == [("zed", "approve"), ("yan", "approve")]


def test_no_approvals_field_means_no_votes_were_cast() -> None:
    policy = quorum("{at_least: 1}")
    missing = approval(policy, None)
    assert (missing.status, missing.missing, missing.approved) == ("not_met", True, 0)
    empty = approval(policy, [])
    assert (empty.status, empty.missing) == ("not_met", False)
    assert approval(policy, None, approvals=None).missing  # null counts as missing


def test_votes_keep_their_time_and_the_members_who_have_not_voted() -> None:
    check = approval(quorum("majority"), [{"by": "ana", "vote": "approve", "at": "2026-11-02T10:00:00Z"}])
    assert check.not_voted == ("ben", "cho", "dev", "eli")
    assert check.superseded == () and check.ignored == ()


@pytest.mark.parametrize("ballot, message", [
    ("yes", "'approvals' must be a list"),
    (["ana"], "'approvals' item 1 must be a mapping"),
    ([{"vote": "approve"}], "'approvals' item 1 must name who voted in 'by'"),
    ([{"by": "ana", "vote": "approve"}, {"by": "ben", "vote": "aprove"}],
     "'approvals' item 2: 'vote' must be 'approve', 'reject' or 'abstain', not 'aprove' (did you mean 'approve'?)"),
    ([{"by": "ana"}], "not missing"),
    ([{"by": "ana", "vote": False}],  # `vote: no` in a YAML item
     "not true or false (YAML reads an unquoted yes or no as true or false: write 'yes' or 'no' in quotes)"),
])
def test_malformed_votes_are_item_errors(ballot: Any, message: str) -> None:
    with pytest.raises(ItemError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        quorum("majority").gate({"stage": "approval", "approvals": ballot})


# -- stages, targets and skipping ---------------------------------------------------------------------------


@pytest.mark.parametrize("item, message", [
    ({"id": "X"}, "'stage' is required but missing"),
    ({"stage": "analisys"}, "'stage' is 'analisys', not one of 'definition', 'analysis', 'approval', 'charter' (did you mean 'analysis'?)"),
    ({"stage": "charter"}, "the item is at 'charter', the last stage; there is no stage to move to"),
    ({"stage": "approval", "target": "approval"}, "the item is already at 'approval'"),
    ({"stage": "approval", "target": "analysis"}, "the item is at 'approval', past 'analysis'"),
    ({"stage": "approval", "target": "done"}, "'target' is 'done', not one of"),
    ("not a mapping", "an item must be a mapping"),
])
def test_items_that_cannot_be_checked(item: Any, message: str) -> None:
    with pytest.raises(ItemError) as raised:
        load().gate(item)
    assert message in raised.value.message


def test_to_names_a_later_stage_and_overrides_the_items_target() -> None:
    policy = load(extra="allow_skip: true\n")
    item = {"stage": "definition", "target": "analysis", "problem_statement": "x", "sponsor": "y"}
    assert policy.gate(item).target == "analysis"
    assert policy.gate(item, to="approval").target == "approval"
    with pytest.raises(UsageError, match="did you mean 'charter'"):
        policy.gate(item, to="chartr")


def test_moving_past_a_stage_is_refused_unless_allowed() -> None:
    result = load().gate({"stage": "definition", "problem_statement": "x", "sponsor": "y", "cost": 1, "budget": 2},
                         to="charter")
    (check,) = result.criteria
    assert (result.result, check.kind, check.status, check.skipped) == ("fail", "skip", "not_met", ("analysis", "approval"))
    assert check.gate == "charter"


def test_skipping_never_lowers_the_bar() -> None:
    policy = load(GATES + "- {from: definition, to: approval, id: fast-track, require: [fast_track_case]}\n",
                  extra="allow_skip: true\n")
    item = {"stage": "definition", "problem_statement": "x", "sponsor": "y", "cost": 1, "budget": 2}
    result = policy.gate(item, to="approval")
    assert [(c.gate, c.name, c.status) for c in result.criteria] == [
        ("analysis", "problem_statement", "met"), ("analysis", "sponsor", "met"),
        ("approval", "fast_track_case", "not_met"),  # the direct gate's criteria come on top
        ("approval", "within-budget", "met"), ("approval", "risk != 'high'", "met"),
    ]
    assert result.result == "fail"
    assert policy.gate({**item, "fast_track_case": "urgent"}, to="approval").result == "pass"
    assert policy.gate({**item, "sponsor": ""}, to="approval").result == "fail"


def test_a_move_no_gate_leads_to_needs_nothing() -> None:
    policy = load("- {to: analysis, require: [x]}\n")
    result = policy.gate({"stage": "analysis"})
    assert (result.result, result.criteria) == ("pass", ())


# -- applies_to and the outcome -----------------------------------------------------------------------------

INTAKE = policy_text("""
- id: big
  outcome: initiative
  when: estimated_cost >= 100000
  because: Big money.
""")


def with_intake(gates: str = GATES, applies_to: str = "outcome == 'initiative'") -> engine.Policy:
    return engine.loads(INTAKE + "---\n" + gates_text(gates, extra=f"applies_to: {applies_to}\n"))


def test_items_applies_to_does_not_hold_for_are_not_applicable() -> None:
    policy = with_intake()
    result = policy.gate({"id": "T", "type": "incident", "stage": "definition"})
    assert (result.result, result.criteria, result.applies_to.result) == ("not_applicable", (), "false")
    assert (result.outcome.outcome, result.outcome.rule, result.outcome.source) == ("routine_ticket", None, "classification")


def test_applies_to_unknown_is_not_applicable() -> None:
    policy = load(extra="applies_to: cost > 10\n")
    result = policy.gate({"stage": "definition"})
    assert (result.result, result.applies_to.result) == ("not_applicable", "unknown")


def test_an_item_without_an_outcome_is_classified_first() -> None:
    policy = with_intake()
    result = policy.gate({"id": "I", "type": "idea", "estimated_cost": 200000, "stage": "definition"})
    assert result.result == "fail" and result.applies_to.result == "true"
    assert (result.outcome.outcome, result.outcome.rule, result.outcome.source) == ("initiative", "big", "classification")
    assert result.outcome.policy.name == "test-policy"


def test_an_items_own_outcome_is_used_as_it_is() -> None:
    policy = with_intake()
    result = policy.gate({"id": "I", "type": "idea", "stage": "definition", "outcome": "initiative", "rule": "manual"})
    assert (result.outcome.outcome, result.outcome.rule, result.outcome.source) == ("initiative", "manual", "item")
    with pytest.raises(ItemError, match="'outcome' is 'initative'"):
        policy.gate({"stage": "definition", "outcome": "initative"})


def test_a_classification_error_is_the_items_error() -> None:
    with pytest.raises(ItemError, match="cannot classify the item with 'test-policy': 'estimated_cost' must be a number"):
        with_intake().gate({"id": "I", "type": "idea", "estimated_cost": "lots", "stage": "definition"})


def test_gates_that_do_not_read_the_outcome_never_classify() -> None:
    policy = with_intake(applies_to="true")
    result = policy.gate({"id": "I", "estimated_cost": "lots", "stage": "definition"})
    assert result.outcome is None and result.result == "fail"


def test_gates_alone_read_an_outcome_the_item_carries() -> None:
    policy = load(extra="applies_to: outcome == 'initiative'\n")
    assert policy.gate({"stage": "definition", "outcome": "initiative"}).result == "fail"
    assert policy.gate({"stage": "definition"}).result == "not_applicable"  # no outcome: unknown


# -- many items ----------------------------------------------------------------------------------------------


def test_gate_all_gives_one_result_per_item_in_order() -> None:
    results = list(load().gate_all([{"id": 1, "stage": "definition"}, {"id": 2}, 3, {"id": 4, "stage": "approval"}]))
    assert [type(r).__name__ for r in results] == ["GateResult", "Rejection", "Rejection", "GateResult"]
    assert [r.line for r in results if isinstance(r, Rejection)] == [2, 3]


def test_a_folder_with_both_kinds_classifies_and_gates(write) -> None:
    write("set/intake.yaml", INTAKE)
    write("set/gates.yaml", gates_text(GATES, extra="applies_to: outcome == 'initiative'\n"))
    policy = engine.load(str(write("set/x.txt", "").parent))
    assert policy.classify({"type": "idea", "estimated_cost": 200000}).outcome == "initiative"
    assert policy.gate({"type": "idea", "estimated_cost": 200000, "stage": "definition"}).result == "fail"
    assert engine.load(str(write("set/x.txt", "").parent), name="test-gates").classification.name == "test-policy"
    with pytest.raises(UsageError, match="no policy named 'test-gate'; did you mean 'test-gates'"):
        engine.load(str(write("set/x.txt", "").parent), name="test-gate")  # at once, not when first used
    assert policy.annotate({"id": "A", "estimated_cost": 1}) == {
        "id": "A", "estimated_cost": 1, "outcome": "routine_ticket", "rule": None,
        "because": "no rule matched; the policy's default applies"}


def test_vote_spellings_and_abstentions() -> None:
    """Votes may be spelt as people write them; an abstention is a vote that neither approves nor rejects."""
    import engine

    from .conftest import POLICIES

    policy = engine.load(str(POLICIES))
    board = dict(policy.policy_set.gates().roster)["investment_board"]
    votes = [{"by": board[0], "vote": "Approved"}, {"by": board[1], "vote": "YES"}, {"by": board[2], "vote": "abstain"},
             {"by": board[3], "vote": "no"}]
    item = {"id": "V-1", "stage": "approval", "outcome": "initiative", "approvals": votes}
    result = policy.gate(item)
    (check,) = [c for c in result.criteria if c.kind == "approval" and c.group == "investment_board"]
    assert check.approvers == (board[0], board[1]) and check.abstained == (board[2],) and check.rejected_by == (board[3],)
    assert board[2] not in check.not_voted
    with pytest.raises(engine.ItemError, match="'vote' must be 'approve', 'reject' or 'abstain', not 'maybe'"):
        policy.gate({**item, "approvals": [{"by": board[0], "vote": "maybe"}]})


def test_an_error_record_passed_on_by_annotate_keeps_its_problem() -> None:
    # `classify --annotate | gate -`: the gates repeat why the item was rejected, not what the record lacks
    policy = load()
    results = list(policy.gate_all([
        {"id": "ok", "stage": "definition", "outcome": "initiative"},
        {"id": "bad", "line": 2, "error": "'estimated_cost' must be a number, not 'lots'",
         "policy": {"name": "test-policy", "version": "1", "sha256": "0" * 64}},
        {"id": None, "line": 3, "error": "invalid JSON", "policy": {"name": "test-policy"}}]))
    assert isinstance(results[0], GateResult)
    assert [(r.item_id, r.error) for r in results[1:]] == [
        ("bad", "'test-policy' rejected it (line 2 of its input): 'estimated_cost' must be a number, not 'lots'"),
        (None, "'test-policy' rejected it (line 3 of its input): invalid JSON")]
    # an item with fields of its own named so is an item
    item = {"id": "x", "stage": "definition", "error": "E42", "policy": {"name": "travel"}}
    assert isinstance(policy.gate(item), GateResult)
