#!/usr/bin/env python3
"""A third benchmark shape: real rows, many fields, text enums, optional fields as null.

The other shapes are generated. This one reads the 141,712 audit events of the UCI ServiceNow
incident event log (../shared/data/uci_servicenow_incident_event_log/, beside the project),
each row an item as an export writes it: 36 fields, of which the policy declares 19; counts
as numbers, flags as booleans, and the log's unknown values ('?') as null.
`event-triage.yaml` (15 rules: enums of text, has(), a pattern, arithmetic, lower(), len())
is measured against the same rules written by hand as a plain if-chain.

    python benchmarks/events_shape.py [CSV.GZ] [--items N] [--rounds R] [--rulebook PATH/TO/rulebook]

As ops_shape.py: every decision is checked against the hand-written one, then in process and
end to end are timed, medians of the rounds and ratios to the hand-written code.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # the timing shared with the other shapes, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, "event-triage.yaml")
DEFAULT_LOG = os.path.join(HERE, "..", "..", "shared", "data", "uci_servicenow_incident_event_log",
                           "incident_event_log.csv.gz")
FLAGS = {"active", "made_sla", "knowledge", "u_priority_confirmation"}
COUNTS = {"reassignment_count", "reopen_count", "sys_mod_count"}


def items(path: str, limit: int | None) -> list[dict[str, Any]]:
    """The events as items: '?' as null, flags as booleans, counts as numbers, the rest as text;
    `id` is the incident's number and the event's row."""
    found = []
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle)):
            if limit is not None and row_number >= limit:
                break
            item: dict[str, Any] = {"id": f"{row['number']}-{row_number}"}
            for name, value in row.items():
                if value == "?":
                    item[name] = None
                elif name in FLAGS:
                    item[name] = value == "true"
                elif name in COUNTS:
                    item[name] = int(value)
                elif name != "number":
                    item[name] = value
            found.append(item)
    return found


# -- the same rules, by hand ---------------------------------------------------------------------

_CLOSED_CODES = re.compile("^code (1|16|17)$")


def by_hand(it: dict[str, Any]) -> tuple[str, str | None]:
    """event-triage.yaml as a plain if-chain over the item (no input checking): (outcome, rule)."""
    priority, sla = it["priority"], it["made_sla"]
    if priority == "1 - Critical" and not sla:
        return "escalate", "E01"
    reassigned, impact = it["reassignment_count"], it["impact"]
    if reassigned >= 5 and impact == "1 - High":
        return "escalate", "E02"
    reopened = it["reopen_count"]
    if reopened >= 2:
        return "problem_review", "E03"
    state = it["incident_state"]
    if it.get("problem_id") is not None and state != "Closed":
        return "problem_review", "E04"
    if it.get("rfc") is not None and state in ("Resolved", "Closed"):
        return "change_followup", "E05"
    if it["sys_mod_count"] > 20 or reassigned * 2 + reopened > 12:
        return "churn_review", "E06"
    knowledge = it["knowledge"]
    if not knowledge and reassigned >= 3 and it.get("category") in ("Category 26", "Category 42", "Category 53"):
        return "knowledge_gap", "E07"
    if state in ("Awaiting Vendor", "Awaiting Problem", "Awaiting User Info") and not it["active"]:
        return "stale", "E08"
    urgency = it["urgency"]
    if urgency == "1 - High" and impact == "1 - High" and not it["u_priority_confirmation"]:
        return "escalate", "E09"
    code = it.get("closed_code")
    if code is not None and _CLOSED_CODES.search(code) and not knowledge:
        return "knowledge_gap", "E10"
    if it["contact_type"] in ("Self service", "Email") and urgency == "3 - Low":
        return "self_service", "E11"
    group = it.get("assignment_group")
    if group is not None and group.lower() == "group 70" and reassigned >= 2:
        return "churn_review", "E12"
    if (it.get("notify") or "Do Not Notify") == "Send Email" and state == "Awaiting User Info":
        return "stale", "E13"
    if priority in ("3 - Moderate", "4 - Low"):
        return "standard", "E14"
    caller = it.get("caller_id")
    if caller is not None and len(caller) > 11 and priority == "2 - High":
        return "escalate", "E15"
    return "standard", None


def main() -> None:
    parser = shapes.arguments(__doc__.split("\n\n")[0], None, "read only the first N events (default: all)")
    parser.add_argument("log", nargs="?", default=DEFAULT_LOG, help="incident_event_log.csv.gz")
    args = parser.parse_args()
    if args.pipe:
        return shapes.pipe(by_hand)
    events = items(args.log, args.items)
    lacking = sum(1 for it in events if any(value is None for value in it.values()))
    shapes.measure("A third shape: event-triage.yaml over real ServiceNow events", POLICY, events, by_hand,
                   os.path.abspath(__file__), args.rulebook, args.rounds,
                   f"real audit events, {lacking / len(events):.0%} with some field null")


if __name__ == "__main__":
    main()
