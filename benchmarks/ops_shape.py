#!/usr/bin/env python3
"""A second benchmark shape: nested fields, optional inputs, lists and dates.

The shared benchmark's policy reads nine flat fields that every item carries. Real feeds are
messier, so this one measures `ops-triage.yaml` (25 rules over 20 inputs: nested mappings,
optional fields without defaults, a list of labels, two dates) against the same rules written
by hand as a plain if-chain, on generated items of which most lack some optional field.

    python benchmarks/ops_shape.py [--items N] [--rounds R] [--rulebook PATH/TO/rulebook]

It generates the items (deterministic), checks Rulebook's decision for every item against the
hand-written one (any disagreement stops it), then times, one after the other in each round:
in process, the hand-written if-chain, `policy.decide_many(items)`, `policy.decide(item)` per
item and `policy.classify(item, trace=True)` per item; end to end, `rulebook classify` of the
items as a JSONL file against a hand-written script (orjson if installed, else the standard
library's json). Medians of the rounds, ratios to the hand-written code; a markdown table.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # the timing shared with the other shapes, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, "ops-triage.yaml")

# -- the items -----------------------------------------------------------------------------------

KINDS = ["incident", "request", "problem", "change", "idea"]
PRIORITIES = ["p1", "p2", "p3", "p4"]
LEVELS = ["none", "minor", "moderate", "major", "severe"]
SEGMENTS = ["consumer", "smb", "enterprise", "public_sector"]
REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "apac", "latam"]
TEAMS = ["secops", "netops", "dba", "desk", "platform", "apps"]
SERVICES = ["payments", "email", "erp", "crm", "hr-portal", "vpn", "wiki", "billing"]
LABELS = ["security", "gdpr", "recurring", "docs", "emergency", "network", "ui", "perf", "billing", "access",
          "backup", "mobile"]
BASE = dt.date(2025, 1, 1)


def item(r: random.Random, number: int) -> dict[str, Any]:
    """One item; each optional field is left out with probability 0.04, due dates and cost
    estimates with 0.4 and 0.5, so about three items in four lack some optional field."""
    it: dict[str, Any] = {"id": f"T-{number:07d}", "kind": r.choices(KINDS, [40, 25, 12, 15, 8])[0]}

    def missing() -> bool:
        return r.random() < 0.04

    if not missing():
        it["priority"] = r.choices(PRIORITIES, [5, 15, 45, 35])[0]
    if r.random() >= 0.03:
        impact: dict[str, Any] = {}
        if not missing():
            impact["users"] = int(r.paretovariate(1.2) * 3) if r.random() < 0.9 else r.randint(0, 5000)
        if not missing():
            impact["level"] = r.choices(LEVELS, [25, 35, 22, 12, 6])[0]
        if not missing():
            impact["revenue_at_risk"] = round(r.choice([0, 0, 0, r.uniform(0, 50000), r.uniform(0, 1500000)]), 2)
        it["impact"] = impact
    service: dict[str, Any] = {}
    if not missing():
        service["tier"] = r.choices([1, 2, 3, 4], [10, 25, 40, 25])[0]
    if not missing():
        service["regulated"] = r.random() < 0.2
    if not missing():
        service["name"] = r.choice(SERVICES)
    if service or r.random() < 0.5:
        it["service"] = service
    if not missing():
        it["labels"] = r.sample(LABELS, r.choices([0, 1, 2, 3, 4], [20, 35, 25, 12, 8])[0])
    if not missing():
        it["region"] = r.choice(REGIONS)
    if not missing():
        it["team"] = r.choice(TEAMS)
    if not missing():
        it["reopen_count"] = r.choices([0, 1, 2, 3, 4], [60, 20, 10, 6, 4])[0]
    if not missing():
        it["sla_breach_minutes"] = r.choice([0, 0, 0, round(r.uniform(0, 60), 1), r.randint(0, 600)])
    customer: dict[str, Any] = {}
    if not missing():
        customer["vip"] = r.random() < 0.05
    if not missing():
        customer["segment"] = r.choice(SEGMENTS)
    if customer:
        it["customer"] = customer
    opened = BASE + dt.timedelta(days=r.randint(0, 700))
    it["opened_at"] = opened.isoformat()
    if r.random() < 0.6:
        it["due_date"] = (opened + dt.timedelta(days=r.randint(0, 30))).isoformat()
    if r.random() < 0.5:
        it["cost_estimate"] = r.choice([r.randint(0, 20000), r.randint(0, 200000), round(r.uniform(0, 300000), 2)])
    if not missing():
        it["risk_score"] = r.choice([r.randint(0, 100), round(r.uniform(0, 100), 1)])
    if not missing():
        it["automated"] = r.random() < 0.3
    if not missing():
        it["attachments"] = r.choices([0, 1, 2, 5], [50, 30, 15, 5])[0]
    return it


# -- the same rules, by hand ---------------------------------------------------------------------

_EMPTY: dict[str, Any] = {}
_date = dt.date.fromisoformat


def by_hand(it: dict[str, Any]) -> tuple[str, str | None]:
    """ops-triage.yaml as a plain if-chain over the item (no input checking): (outcome, rule)."""
    labels = it.get("labels", ())
    impact = it.get("impact", _EMPTY)
    level = impact.get("level", "none")
    service = it.get("service", _EMPTY)
    regulated = service.get("regulated", False)
    if "security" in labels and (level == "major" or level == "severe" or regulated):
        return "security_review", "H01"
    customer = it.get("customer", _EMPTY)
    vip = customer.get("vip", False)
    if impact.get("revenue_at_risk", 0) >= 1000000 or (vip and level == "severe"):
        return "escalate_exec", "H02"
    users = impact.get("users", 0)
    tier = service.get("tier", 4)
    if level == "severe" and users >= 1000 and tier <= 2:
        return "major_incident", "H03"
    priority = it.get("priority", "p3")
    if priority == "p1" and tier == 1:
        return "major_incident", "H04"
    kind = it["kind"]
    risk = it.get("risk_score", 0)
    if kind == "change" and regulated and not ("emergency" in labels or risk < 20):
        return "compliance_review", "H05"
    sla = it.get("sla_breach_minutes", 0)
    if service.get("name") == "payments" and sla > 30:
        return "expedite", "H06"
    if it.get("team") == "secops" and (kind == "incident" or kind == "problem"):
        return "security_review", "H07"
    if sla >= 240 and (priority == "p1" or priority == "p2"):
        return "expedite", "H08"
    segment = customer.get("segment", "consumer")
    if segment == "public_sector" and it.get("region", "unknown") == "eu-west" and "gdpr" in labels:
        return "compliance_review", "H09"
    cost = it.get("cost_estimate")
    if kind == "change":
        if cost is not None and cost >= 50000:
            return "cab_review", "H10"
        if risk >= 70 or users / tier >= 500:
            return "cab_review", "H11"
    if priority != "p4":
        due = it.get("due_date")
        if due is not None and (_date(due) - _date(it["opened_at"])).days < 2:
            return "expedite", "H12"
    if kind == "problem" and it["opened_at"] < "2025-06-01":
        return "problem_mgmt", "H13"
    reopened = it.get("reopen_count", 0)
    if reopened >= 3:
        return "problem_mgmt", "H14"
    if kind == "incident" and ("recurring" in labels or reopened >= 2) and users >= 50:
        return "problem_mgmt", "H15"
    if vip and priority != "p4":
        return "expedite", "H16"
    if segment == "enterprise" and (level == "moderate" or level == "major") and it.get("attachments", 0) >= 1:
        return "expedite", "H17"
    if kind == "idea" and ((cost is not None and cost > 100000) or risk > 80):
        return "cab_review", "H18"
    if kind == "request":
        automated = it.get("automated", False)
        if not automated and len(labels) >= 3:
            return "standard", "H19"
        if "docs" in labels:
            return "self_service", "H20"
        if automated and it.get("region", "unknown") != "apac":
            return "self_service", "H21"
    if level == "none" and users < 5 and priority == "p4":
        return "backlog", "H22"
    if kind == "idea":
        return "backlog", "H23"
    if tier == 4 and not regulated:
        return "backlog", "H24"
    if 0 <= risk < 10 and kind == "incident":
        return "standard", "H25"
    return "standard", None


# -- measuring -----------------------------------------------------------------------------------


def main() -> None:
    args = shapes.arguments(__doc__.split("\n\n")[0], 100_000, "how many items to generate").parse_args()
    if args.pipe:
        return shapes.pipe(by_hand)
    r = random.Random(1234)
    items = [item(r, number) for number in range(args.items)]
    lacking = sum(1 for it in items if not ("due_date" in it and "cost_estimate" in it and "team" in it
                                            and "name" in it.get("service", _EMPTY)))
    shapes.measure("A second shape: ops-triage.yaml", POLICY, items, by_hand, os.path.abspath(__file__), args.rulebook,
                   args.rounds, f"{lacking / args.items:.0%} lacking some optional field")


if __name__ == "__main__":
    main()
