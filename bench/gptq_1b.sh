#!/usr/bin/env bash
# GPTQ (gptq:bits=4,group=128) of the TinyLlama-1.1B shape (random F16 weights from `sqz synth`), timed with
# /usr/bin/time -v: prints wall time against the 15-minute target and peak RSS against 1.5 × the F16 file.
#
#   bench/gptq_1b.sh [-t THREADS (2)] [--calib-n N (32)] [--calib-len L (256)] [--recipe R]
#
# Run it on an otherwise idle machine (it takes minutes on 2 cores): the load average is printed before and
# after. The variant goes to a temporary directory that is removed afterwards (HF layout only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SQZ=${SQZ_BIN:-$ROOT/build/sqz}
MODELS=${SQZ_BENCH_MODELS:-$ROOT/build/bench-models}
THREADS=2 CN=32 CL=256 RECIPE="gptq:bits=4,group=128"
while [[ $# -gt 0 ]]; do
    case $1 in
    -t) THREADS=$2; shift ;;
    --calib-n) CN=$2; shift ;;
    --calib-len) CL=$2; shift ;;
    --recipe) RECIPE=$2; shift ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "gptq_1b.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x $SQZ ]] || { echo "gptq_1b.sh: $SQZ not built" >&2; exit 1; }
F16=$MODELS/tinyllama-1.1b-f16.gguf
VOCAB=$ROOT/../shared/data/tokenizers/vocab-gguf/ggml-vocab-llama-spm.gguf
mkdir -p "$MODELS"
[[ -s $F16 ]] || "$SQZ" synth --shape tinyllama-1.1b --type f16 --seed 0 --vocab "$VOCAB" -o "$F16" >&2
OUT=$(mktemp -d)
TIMES=$(mktemp)
trap 'rm -rf "$OUT" "$TIMES"' EXIT
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/time -v "$SQZ" compress "$F16" --recipe "$RECIPE" --calib-n "$CN" --calib-len "$CL" -t "$THREADS" \
    --formats hf -o "$OUT/v" 2>"$TIMES" >/dev/null || { tail -20 "$TIMES" >&2; exit 1; }
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
grep -o 'compress: [0-9]* linears.*' "$TIMES" | tail -1 || true
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TIMES")
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TIMES")
f16_bytes=$(stat -L -c %s "$F16")
awk -v wall="$wall" -v rss="$rss_kb" -v f16="$f16_bytes" -v t="$THREADS" -v r="$RECIPE" -v l0="$LOAD0" -v l1="$LOAD1" \
    -v cn="$CN" -v cl="$CL" 'BEGIN {
    n = split(wall, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i];
    lim = 1.5 * f16 / 1048576; mib = rss / 1024;
    printf "%s of tinyllama-1.1b F16 (%d x %d calibration tokens), %d threads; load average %s before, %s after\n", r, cn, cl, t, l0, l1;
    printf "wall time  %.1f s = %.1f min (target <= 15 min: %s)\n", s, s / 60, s <= 900 ? "met" : "MISSED";
    printf "peak RSS   %.0f MiB (limit 1.5 x F16 file %.0f MiB = %.0f MiB: %s)\n", mib, f16 / 1048576, lim, mib <= lim ? "met" : "OVER";
}'
