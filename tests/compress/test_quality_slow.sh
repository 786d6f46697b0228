#!/usr/bin/env bash
# Quantization quality behaves like the literature on SmolLM2-135M (held-out Python perplexity, via
# bench/quant_quality.sh): int8 RTN within 1 % of the baseline; at 4 bits GPTQ and AWQ beat RTN at
# the same group size (AWQ, asymmetric, against asymmetric RTN); at 3 bits GPTQ's advantage over
# RTN is larger than at 4 bits. Loose on purpose: the scored text is ~7k tokens (±4 % per value).
set -u
SQZ="${SQZ_BIN:-build/sqz}"
MODEL="${SQZ_MODELS:-$HOME/.cache/sqz/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ ! -f "$MODEL" ]]; then
  echo "skip: $MODEL not found"
  echo "0 passed, 0 failed"
  exit 0
fi
T=$(mktemp -d /tmp/sqz-quality-XXXXXX)
trap 'rm -rf "$T"' EXIT
SQZ_BIN="$SQZ" RECIPES="rtn:bits=8 rtn:bits=4,group=64 rtn:bits=4,group=64,sym=0 gptq:bits=4,group=64 awq:bits=4,group=64 rtn:bits=3,group=64 gptq:bits=3,group=64" \
  bash bench/quant_quality.sh "$T" || { echo "0 passed, 1 failed"; exit 1; }
ppl() { awk -F'\t' -v r="$1" '$1 == r { print $3 }' "$T/quality.tsv"; }
base=$(ppl "baseline(q4_1)") r8=$(ppl rtn:bits=8) r4=$(ppl rtn:bits=4,group=64) r4a=$(ppl rtn:bits=4,group=64,sym=0)
g4=$(ppl gptq:bits=4,group=64) a4=$(ppl awq:bits=4,group=64) r3=$(ppl rtn:bits=3,group=64) g3=$(ppl gptq:bits=3,group=64)
pass=0 fail=0
check() { # check NAME AWK-CONDITION
  if awk "BEGIN { exit !($2) }"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: $2"; fi
}
check int8-within-1pct "${r8:-1e9} <= ${base:-0} * 1.01"
check gptq4-beats-rtn4 "${g4:-1e9} < ${r4:-0}"
check awq4-beats-rtn4-asym "${a4:-1e9} < ${r4a:-0}"
check gptq-gain-larger-at-3bit "(${r3:-0} - ${g3:-1e9}) > (${r4:-1e9} - ${g4:-0})"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
