#!/usr/bin/env bash
# Quantization quality on SmolLM2-135M-Instruct: held-out Python-corpus perplexity of the baseline
# (its Q4_1 weights, as llama.cpp runs them) and of variants made by `sqz compress` from it.
#
#   bench/quant_quality.sh [OUT_DIR]
# Environment: SQZ_BIN (build/sqz), SQZ_MODELS (~/.cache/sqz/models), PPL_BYTES (30000: bytes of
# held-out text scored, ~7k tokens = 14 chunks of 512), CALIB_N / CALIB_LEN (16 / 256),
# RECIPES (space-separated list overriding the default set), THREADS (0 = physical cores),
# BASELINE_PPL ("PPL ERR" of the baseline on the same text, to skip recomputing it).
# Prints a table and writes OUT_DIR/quality.tsv (recipe, bits/weight, ppl, ±, Δ% vs baseline, seconds).
#
# Group size 64, not the literature's 128: 128 does not divide SmolLM2's width 576 (= 9·64), and
# sqz refuses a group that does not divide a layer's width. The variants run as dense F32 in
# memory (integer weights dequantized), q4_0/q8_0 with the llama.cpp block kernels.
set -eu
SQZ="${SQZ_BIN:-build/sqz}"
MODEL="${SQZ_MODELS:-$HOME/.cache/sqz/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT="${1:-/tmp/sqz-quant-quality}"
PPL_BYTES="${PPL_BYTES:-30000}"
CALIB_N="${CALIB_N:-16}"
CALIB_LEN="${CALIB_LEN:-256}"
THREADS="${THREADS:-0}"
RECIPES="${RECIPES:-rtn:bits=8 rtn:bits=4,group=64 gptq:bits=4,group=64 awq:bits=4,group=64 rtn:bits=3,group=64 gptq:bits=3,group=64 q4_0 q8_0 rtn:bits=4,group=64,sym=0}"
# OPENBLAS_CORETYPE=SkylakeX (DESIGN.md §10) is left to the caller: on some machines it dies with SIGILL.

if [[ ! -f "$MODEL" ]]; then
  echo "skip: $MODEL not found (run scripts/setup.sh)"
  exit 0
fi
mkdir -p "$OUT"
"$SQZ" compress --heldout-text "$OUT/heldout.full.txt" 2>/dev/null
head -c "$PPL_BYTES" "$OUT/heldout.full.txt" >"$OUT/heldout.txt"
TSV="$OUT/quality.tsv"
printf 'recipe\tbpw\tppl\tppl_err\tdelta_pct\tseconds\n' >"$TSV"

t0=$(date +%s.%N)
base="${BASELINE_PPL:-}" # "PPL ERR" from an earlier run of the same text, to skip recomputing it
[[ -n "$base" ]] || base=$("$SQZ" perplexity "$MODEL" -f "$OUT/heldout.txt" -c 512 -t "$THREADS" 2>/dev/null | sed -n 's/^PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1 \2/p')
t1=$(date +%s.%N)
read -r bppl berr <<<"$base"
printf 'baseline(q4_1)\t%s\t%s\t%s\t0.00\t%.0f\n' 5.00 "$bppl" "$berr" "$(echo "$t1 - $t0" | bc)" >>"$TSV"

for r in $RECIPES; do
  t0=$(date +%s.%N)
  log=$("$SQZ" compress "$MODEL" --recipe "$r" --calib-n "$CALIB_N" --calib-len "$CALIB_LEN" -t "$THREADS" \
    --ppl "$OUT/heldout.txt" -c 512 2>&1 | tr '\r' '\n')
  t1=$(date +%s.%N)
  ppl=$(sed -n 's/^PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1 \2/p' <<<"$log")
  bpw=$(sed -n 's/.* linears, \([0-9.]*\) bits\/weight.*/\1/p' <<<"$log")
  if [[ -z "$ppl" ]]; then
    echo "failed: $r" >&2
    echo "$log" | tail -3 >&2
    continue
  fi
  read -r p e <<<"$ppl"
  printf '%s\t%s\t%s\t%s\t%.2f\t%.0f\n' "$r" "$bpw" "$p" "$e" "$(echo "($p / $bppl - 1) * 100" | bc -l)" \
    "$(echo "$t1 - $t0" | bc)" >>"$TSV"
done

echo "SmolLM2-135M-Instruct, held-out Python corpus ($(wc -c <"$OUT/heldout.txt") bytes), -c 512, calibration ${CALIB_N}x${CALIB_LEN}"
column -t -s $'\t' "$TSV"
