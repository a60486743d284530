"""Timing one shape of policy and items against the same rules written by hand (used by
ops_shape.py and events_shape.py): in process, and end to end as JSON lines in and out."""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any


def arguments(description: str, items: int | None, items_help: str) -> argparse.ArgumentParser:
    """The options every shape's script takes (add its own, then parse)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--items", type=int, default=items, help=items_help)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rulebook", default="rulebook",
                        help="the rulebook command to time end to end (words as a shell splits them)")
    parser.add_argument("--pipe", action="store_true", help=argparse.SUPPRESS)
    return parser


def pipe(by_hand: Callable[[dict[str, Any]], tuple[str, str | None]]) -> None:
    """The hand-written end-to-end baseline: JSONL items on stdin, decisions on stdout."""
    try:
        import orjson

        loads, dumps = orjson.loads, orjson.dumps
    except ImportError:
        loads, dumps = json.loads, lambda value: json.dumps(value, separators=(",", ":")).encode()
    write = sys.stdout.buffer.write
    for line in sys.stdin.buffer:
        it = loads(line)
        outcome, rule = by_hand(it)
        write(dumps({"id": it["id"], "outcome": outcome, "rule": rule}))
        write(b"\n")


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(title: str, policy_path: str, items: list[dict[str, Any]],
            by_hand: Callable[[dict[str, Any]], tuple[str, str | None]], script: str, rulebook: str, rounds: int,
            about: str) -> None:
    """Check that the policy decides every item as `by_hand` does (else exit), then time, one
    after the other in each round: in process, `by_hand`, `decide_many`, `decide` per item and
    `classify(trace=True)` per item; end to end, `rulebook classify` of the items as a JSONL file
    against `script --pipe`. Prints medians and ratios to the hand-written code as markdown."""
    import engine

    policy = engine.load(policy_path)
    for it, verdict in zip(items, policy.decide_many(items)):
        if getattr(verdict, "error", None) is not None or (verdict.outcome, verdict.rule) != by_hand(it):
            sys.exit(f"disagreement on {it['id']}: rulebook {verdict!r}, by hand {by_hand(it)}")
    in_process = {
        "hand-written if-chain": lambda: [by_hand(it) for it in items],
        "`policy.decide_many(items)`": lambda: policy.decide_many(items),
        "`policy.decide(item)` per item": lambda: [policy.decide(it) for it in items],
        "`policy.classify(item, trace=True)` per item": lambda: [policy.classify(it, trace=True) for it in items],
    }
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "items.jsonl")
        with open(path, "w") as handle:
            handle.writelines(json.dumps(it, separators=(",", ":")) + "\n" for it in items)

        def run(command: list[str]) -> None:
            with open(path, "rb") as source:
                subprocess.run(command, stdin=source, stdout=subprocess.DEVNULL, check=True)

        end_to_end = {
            "hand-written script": lambda: run([sys.executable, script, "--pipe"]),
            "`rulebook classify - --format jsonl`": lambda: run([*shlex.split(rulebook), "classify", "-", "--policy",
                                                                 policy_path, "--format", "jsonl", "--quiet"]),
        }
        times: dict[str, list[float]] = {name: [] for name in [*in_process, *end_to_end]}
        for _ in range(rounds):
            for name, work in [*in_process.items(), *end_to_end.items()]:
                gc.collect()
                times[name].append(timed(work))

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"# {title} ({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())})\n")
    print(f"{len(items):,} items, {about}; every decision equal to the hand-written one. Median of {rounds} rounds; "
          "ratio: the hand-written time over this one.\n")
    print("| in process | items/s | ratio |\n|---|---|---|")
    hand = median["hand-written if-chain"]
    for name in in_process:
        print(f"| {name} | {len(items) / median[name]:,.0f} | {hand / median[name]:.2f}x |")
    print("\n| end to end, JSONL file in and out | seconds | ratio |\n|---|---|---|")
    baseline = median["hand-written script"]
    for name in end_to_end:
        print(f"| {name} | {median[name]:.3f} | {baseline / median[name]:.2f}x |")
