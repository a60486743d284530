#!/usr/bin/env bash
# Reproduces the speed figures of README.md, "Speed": the shared benchmark with Rulebook as a
# contestant (in process and end to end), then start-up, memory and --jobs, then a second
# shape of policy and items (nested fields, optional inputs, lists, dates: ops_shape.py) and a
# third (real ServiceNow events from ../shared/data: events_shape.py) and a fourth (a rule list
# written for Python, translated by `rulebook import`: import_shape.py).
# A harness holding another policy (its policies/reference.yaml, its own items and hand-written
# baseline) runs as well: Rulebook's policy is then translated from it with `rulebook import`.
#
#   benchmarks/run.sh                 # everything, about 13 minutes (the first run installs the peers)
#   benchmarks/run.sh --quick         # extra arguments go to the harness (run_bench.py --help)
#
# BENCH_SOURCE names the benchmark to copy (default: ../shared/bench beside the project);
# BENCH_DIR where to run it (default: $TMPDIR/rulebook-bench). Results: $BENCH_DIR/results/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
source_dir=${BENCH_SOURCE:-$project/../shared/bench}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/rulebook-bench}

mkdir -p "$work"
cp -r "$source_dir"/. "$work"/
chmod -R u+w "$work"
cd "$work"
./setup.sh
.venv/bin/pip install -q --disable-pip-version-check "$project"
mkdir -p data
[ -f data/items_100k.jsonl ] || .venv/bin/python gen_items.py -n 100000 -o data/items_100k.jsonl
# Rulebook's translation of the harness's policies/reference.yaml: the hand-written one (inputs
# declared with enums and bounds) where the rules are those it was written from, else the
# one `rulebook import` makes (inputs typed from the items), so another policy and item set of
# the harness run as they are
same=$(.venv/bin/python - "$here/itsm-triage.yaml" <<'PY'
import sys

import yaml

def rules(path):
    doc = yaml.safe_load(open(path))
    default = doc.get("default")
    return ([(r["id"], r["outcome"], " ".join(str(r["when"]).split())) for r in doc["rules"]],
            default.get("outcome") if isinstance(default, dict) else default)

print("yes" if rules("policies/reference.yaml") == rules(sys.argv[1]) else "no")
PY
)
if [ "$same" = yes ]; then
  policy=policies/rulebook-itsm-triage.yaml
  cp "$here/itsm-triage.yaml" "$policy"
else
  policy=policies/rulebook-reference.yaml
  # typed from every item the harness checks, so that no value unlike the first ones is refused
  .venv/bin/rulebook import policies/reference.yaml --items data/items_100k.jsonl \
    --sample "$(wc -l < data/items_100k.jsonl)" -o "$policy"
fi
export RULEBOOK_BENCH_POLICY=$policy
cp "$here/c_rulebook.py" contestants/c_rulebook.py
.venv/bin/python - <<'PY'
import re
path = "contestants/registry.py"
text = open(path).read()
if "c_rulebook" not in text:
    text = text.replace("MODULES = [", 'MODULES = [\n    ("c_rulebook", "Rulebook"),', 1)
    open(path, "w").write(text)
PY
cli="rulebook=.venv/bin/rulebook classify - --policy $policy --format jsonl --quiet"
.venv/bin/python run_bench.py --cli "$cli" "$@"
[ -f data/items_1m.jsonl ] || .venv/bin/python gen_items.py -n 1000000 -o data/items_1m.jsonl
.venv/bin/python "$here/resources.py" --rulebook .venv/bin/rulebook --python .venv/bin/python \
  --policy "$policy" --items data/items_1m.jsonl | tee results/rulebook-resources.md
.venv/bin/python "$here/ops_shape.py" --rulebook .venv/bin/rulebook | tee results/rulebook-ops-shape.md
.venv/bin/python "$here/events_shape.py" --rulebook .venv/bin/rulebook | tee results/rulebook-events-shape.md
.venv/bin/python "$here/import_shape.py" --rulebook .venv/bin/rulebook | tee results/rulebook-import-shape.md
