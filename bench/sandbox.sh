#!/usr/bin/env bash
# Sandbox throughput: `sqz check` on the 164 HumanEval canonical solutions (each one a fresh
# sandbox: namespaces, tmpfs, seccomp, python3 start-up). Target: <= 30 s on 2 cores.
# usage: bench/sandbox.sh [WORKERS]   (SQZ_BIN, SQZ_DATA_DIR as for the tests)
set -euo pipefail
SQZ=${SQZ_BIN:-build/sqz}
DATA=${SQZ_DATA_DIR:-../shared/data/datasets}
WORKERS=${1:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$DATA/humaneval/HumanEval.jsonl.gz" > "$tmp/canonical.jsonl" <<'PY'
import gzip, json, sys
for line in gzip.open(sys.argv[1], "rt"):
    p = json.loads(line)
    print(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}))
PY
t0=$(date +%s.%N)
"$SQZ" check --task humaneval --samples "$tmp/canonical.jsonl" --workers "$WORKERS" --json > "$tmp/out.json"
t1=$(date +%s.%N)
/usr/bin/python3 - "$tmp/out.json" "$t0" "$t1" "$WORKERS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
per = [s["wall_s"] for t in r["tasks"] for s in t["samples"]]
per.sort()
print(f"humaneval canonical: {r['n_samples']} samples, pass@1 = {r['pass@1']:.4f}, "
      f"wall {wall:.1f} s with {sys.argv[4]} workers ({r['n_samples'] / wall:.1f} samples/s; "
      f"per sample median {per[len(per) // 2] * 1000:.0f} ms, max {per[-1] * 1000:.0f} ms); target <= 30 s")
PY
