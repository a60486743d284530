"""Rulebook: decision rules for IT governance, written as YAML policies.

    import engine
    policy = engine.load("policies/")
    decision = policy.classify(item)
    print(decision.explain())
    result = policy.gate(item)          # stage gates: pass, fail or not_applicable
    print(result.explain())
    change = engine.diff(policy, engine.load("next/"), items)   # what a new version changes
    run = engine.run_tests("policies/tests")   # policy tests: run.passed, run.failed, run.coverage

Names are imported on first use, so `import engine` (and the command line) stays quick.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": ".api",
    "loads": ".api",
    "Policy": ".api",
    "Decision": ".evaluate",
    "Rejection": ".evaluate",
    "Verdict": ".evaluate",
    "Trace": ".evaluate",
    "GateResult": ".gates",
    "diff": ".compare",
    "PolicyDiff": ".compare",
    "run_tests": ".testrun",
    "TestRun": ".testrun",
    "PolicyError": ".errors",
    "ItemError": ".errors",
    "UsageError": ".errors",
    "RulebookError": ".errors",
    "Diagnostic": ".errors",
    "Span": ".errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute '{name}'")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
