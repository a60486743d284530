#!/usr/bin/env python3
"""A fourth benchmark shape: a rule list written for Python, translated by `rulebook import`.

Another benchmark joins Rulebook through `rulebook import` of its own rule list, whose optional
fields are read as Python reads them (`d.get('k', default)`, `x is not None`). This one
translates `ops-rules.yaml` (ops-triage.yaml's rules written so, but for the one on due dates,
which plain Python cannot write) with the items as samples, and measures the translation
against ops_shape.py's hand-written if-chain, on ops_shape.py's items without their due dates.

    python benchmarks/import_shape.py [--items N] [--rounds R] [--rulebook PATH/TO/rulebook]

As ops_shape.py: every decision is checked against the hand-written one, then in process and
end to end are timed, medians of the rounds and ratios to the hand-written code.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_shape  # the items and the hand-written if-chain
import shapes  # the timing shared with the other shapes, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "ops-rules.yaml")


def main() -> None:
    args = shapes.arguments(__doc__.split("\n\n")[0], 100_000, "how many items to generate").parse_args()
    if args.pipe:
        return shapes.pipe(ops_shape.by_hand)
    r = random.Random(1234)
    items = [ops_shape.item(r, number) for number in range(args.items)]
    for it in items:
        it.pop("due_date", None)
    with tempfile.TemporaryDirectory() as folder:
        samples, policy = os.path.join(folder, "items.jsonl"), os.path.join(folder, "ops-rules.rulebook.yaml")
        with open(samples, "w") as handle:
            handle.writelines(json.dumps(it) + "\n" for it in items)
        subprocess.run([*shlex.split(args.rulebook), "import", RULES, "--items", samples, "--sample", str(len(items)),
                        "-o", policy], check=True, stderr=subprocess.DEVNULL)
        shapes.measure("A fourth shape: ops-rules.yaml through `rulebook import`", policy, items, ops_shape.by_hand,
                       os.path.abspath(__file__), args.rulebook, args.rounds,
                       "the policy translated from a rule list written for Python, with the items as samples")


if __name__ == "__main__":
    main()
