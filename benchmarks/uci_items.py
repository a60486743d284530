#!/usr/bin/env python3
"""Items for the default policy from real incidents: the UCI ServiceNow incident log.

    python benchmarks/uci_items.py [CSV] [--copies N] > uci-items.jsonl

CSV is `incidents_final_state.csv` of the UCI "Incident management process enriched event log"
(24,918 real incidents, one row each; default: ../shared/data/uci_servicenow_incident_event_log/
beside the repository). Each incident becomes one JSONL item for policies/demand-intake.yaml:

| item field             | from the incident                                                  |
|------------------------|--------------------------------------------------------------------|
| `id`                   | `number` (`INC0000045`)                                            |
| `type`                 | `incident` (the log holds incidents only)                          |
| `service`              | `category` (anonymised, informational)                             |
| `service_criticality`  | `priority`: 1 - Critical, 2 - High, 3 - Moderate, 4 - Low -> critical, high, medium, low |
| `risk`                 | `impact`: 1 - High, 2 - Medium, 3 - Low -> high, medium, low       |
| `recurrence_90d`       | `prior_90d_same_subcategory`: other incidents of the same category and subcategory opened in the 90 days before |
| `departments_affected` | `locations_90d_same_subcategory`: locations with such incidents in those 90 days |

Fields the data does not hold (costs, funding, manual effort, strategic alignment) are left
out, so the policy's defaults apply; an empty cell leaves its field out too.

`--copies N` writes the incidents N times over (default 1), copy k > 1 with the id suffix
`.k` (`INC0000045.2`), so that a file of six figures can be built from real rows:
`--copies 5` gives 124,590 items. The copies are the same incidents again, not new data.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CSV = os.path.join(HERE, "..", "..", "shared", "data", "uci_servicenow_incident_event_log",
                           "incidents_final_state.csv")
CRITICALITY = {"1 - Critical": "critical", "2 - High": "high", "3 - Moderate": "medium", "4 - Low": "low"}
RISK = {"1 - High": "high", "2 - Medium": "medium", "3 - Low": "low"}


def item(row: dict[str, str]) -> dict[str, object]:
    """The policy item of one incident row."""
    found: dict[str, object] = {"id": row["number"], "type": "incident"}
    if row["category"] not in ("", "?"):
        found["service"] = row["category"]
    if row["priority"] in CRITICALITY:
        found["service_criticality"] = CRITICALITY[row["priority"]]
    if row["impact"] in RISK:
        found["risk"] = RISK[row["impact"]]
    if row["prior_90d_same_subcategory"]:
        found["recurrence_90d"] = int(row["prior_90d_same_subcategory"])
    if row["locations_90d_same_subcategory"]:
        found["departments_affected"] = max(1, int(row["locations_90d_same_subcategory"]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="?", default=DEFAULT_CSV, help="incidents_final_state.csv")
    parser.add_argument("--copies", type=int, default=1, help="how many times to write the incidents")
    args = parser.parse_args()
    with open(args.csv, newline="", encoding="utf-8") as handle:
        items = [item(row) for row in csv.DictReader(handle)]
    out = sys.stdout
    for copy in range(1, args.copies + 1):
        for found in items:
            if copy > 1:
                found = {**found, "id": f"{found['id']}.{copy}"}
            out.write(json.dumps(found, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
