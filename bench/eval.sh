#!/usr/bin/env bash
# Systems measurements of `sqz eval` next to `sqz bench` on the same model and thread count: the
# prefill and decode throughput that eval measures from real task prompts (TTFT, per-request
# latency) should be close to the dedicated benchmark's pp/tg numbers at similar lengths.
#
#   bench/eval.sh [MODEL] [-t THREADS] [--limit N]
#
# Default MODEL: $SQZ_MODELS/SmolLM2-135M-Instruct.Q4_1.gguf; default 1 thread, 5 HumanEval items
# with 64 new tokens each, plus 2 perplexity chunks of 256. Takes about a minute on an idle core.
set -euo pipefail
cd "$(dirname "$0")/.."
SQZ=${SQZ_BIN:-build/sqz}
MODEL=${SQZ_MODELS:-$HOME/.cache/sqz/models}/SmolLM2-135M-Instruct.Q4_1.gguf
T=1 LIMIT=5
while [[ $# -gt 0 ]]; do
    case $1 in
        -t) T=$2; shift 2 ;;
        --limit) LIMIT=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) MODEL=$1; shift ;;
    esac
done
OUT=$(mktemp)
trap 'rm -f "$OUT" "$OUT.gen" "$OUT.ppl"' EXIT
echo "== sqz eval $MODEL (humaneval --limit $LIMIT, 64 new tokens; perplexity 2 x 256), $T thread(s)"
"$SQZ" eval "$MODEL" --tasks humaneval --limit "$LIMIT" --max-tokens 64 -t "$T" --price-per-hour 1.0 \
    --out "$OUT.gen" > /dev/null 2>&1
"$SQZ" eval "$MODEL" --tasks perplexity --limit 2 -c 256 -t "$T" --out "$OUT.ppl" > /dev/null 2>&1
python3 - "$OUT.gen" "$OUT.ppl" <<'PY'
import json, sys
for f in sys.argv[1:]:
  d = json.load(open(f))
  for t in d["tasks"]:
    m = t["metrics"]
    keys = [k for k in ("prefill_tok_s", "decode_tok_s", "gen_tok_s", "ttft_p50_s", "latency_p50_s", "latency_p90_s",
                        "latency_p99_s", "cost_per_1k_gen_tokens_usd", "prompt_tokens", "gen_tokens", "peak_rss_mb") if k in m]
    print(f"  {t['task']:<12}" + "  ".join(f"{k}={m[k]:.4g}" for k in keys))
PY
echo "== sqz bench (pp128, tg64)"
"$SQZ" bench "$MODEL" -p 128 -n 64 -r 3 -t "$T" --no-probe
