"""Rulebook as a contestant of the shared benchmark (copied into its contestants/ by run.sh).

The reference policy is written as a Rulebook policy ($RULEBOOK_BENCH_POLICY, which run.sh
sets; by default policies/rulebook-itsm-triage.yaml, the same rule ids R01..R12), so the
harness checks every decision against its hand-written baseline. Every variant checks each
item against the policy's declared inputs (types, enums, bounds), as Rulebook always does;
the hand-written baseline checks nothing.
"""
import os

from .base import Contestant, pkg_version

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, os.pardir, os.environ.get("RULEBOOK_BENCH_POLICY", "policies/rulebook-itsm-triage.yaml"))


def contestants():
    import engine  # the Rulebook package

    policy = engine.load(POLICY)
    decide_many, decide, classify = policy.decide_many, policy.decide, policy.classify

    # verdicts and decisions unpack as (outcome, rule), the pair the harness compares, so
    # each variant hands back what the API returns, as the hand-written baseline does
    def batch(items):
        return decide_many(items)

    def each(items):
        return list(map(decide, items))

    def traced(items):
        return [classify(item, trace=True) for item in items]

    def explained(items):
        from engine.explain import decision_trace_json

        out = []
        for item in items:
            decision = classify(item, trace=True)
            decision_trace_json(decision)  # the trace's JSON, as `classify --explain` writes it
            out.append(decision)
        return out

    version = pkg_version("rulebook")
    return [
        Contestant("rulebook", "Rulebook: policy.decide_many(items)", version, batch,
                   "checks every declared input of every item"),
        Contestant("rulebook_decide", "Rulebook: policy.decide(item) per item", version, each),
        Contestant("rulebook_trace", "Rulebook: classify(item, trace=True)", version, traced,
                   "records the checked inputs; every condition's value is replayed from them when the trace is read"),
        Contestant("rulebook_explain", "Rulebook: classify with trace, rendered as --explain", version, explained,
                   "writes the JSON trace of every item"),
    ]
