"""Rulebook as a contestant of the shared benchmark (copied into its contestants/ by run.sh).

The reference policy is written as a Rulebook policy (policies/rulebook-itsm-triage.yaml, the
same rule ids R01..R12), so the harness checks every decision against its hand-written
baseline. Every variant checks each item against the policy's declared inputs (types, enums,
bounds), as Rulebook always does; the hand-written baseline checks nothing.
"""
import os

from .base import Contestant, pkg_version

POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "policies", "rulebook-itsm-triage.yaml")


def contestants():
    import engine  # the Rulebook package

    policy = engine.load(POLICY)
    decide_many, decide, classify = policy.decide_many, policy.decide, policy.classify

    def batch(items):
        return [(v.outcome, v.rule_index) for v in decide_many(items)]

    def each(items):
        return [(v.outcome, v.rule_index) for v in map(decide, items)]

    def traced(items):
        out = []
        for item in items:
            decision = classify(item, trace=True)
            out.append((decision.outcome, decision.rule_index))
        return out

    def explained(items):
        from engine.explain import decision_trace_record

        out = []
        for item in items:
            decision = classify(item, trace=True)
            decision_trace_record(decision)  # the trace as `classify --explain` writes it
            out.append((decision.outcome, decision.rule_index))
        return out

    version = pkg_version("rulebook")
    return [
        Contestant("rulebook", "Rulebook: policy.decide_many(items)", version, batch,
                   "checks every declared input of every item"),
        Contestant("rulebook_decide", "Rulebook: policy.decide(item) per item", version, each),
        Contestant("rulebook_trace", "Rulebook: classify(item, trace=True)", version, traced,
                   "records every condition's value and the checked inputs"),
        Contestant("rulebook_explain", "Rulebook: classify with trace, rendered as --explain", version, explained,
                   "builds the JSON trace of every item"),
    ]
