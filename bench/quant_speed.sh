#!/usr/bin/env bash
# Generation speed of sqz's grouped-int kernels on the TinyLlama-1.1B shape (random weights):
# F16, int8 (rtn:bits=8, per channel), int4 g128 (rtn:bits=4,group=128; GPTQ variants have the same
# layout and speed), int4 g128 with the output head quantized too, run by sqz, and llama.cpp's Q4_0 file
# run by llama.cpp, same threads.
#
#   bench/quant_speed.sh [-t THREADS (2)] [-r ROUNDS (3)] [-n TOKENS (64)] [-p PROMPT (0)] [--shape tinyllama-1.1b]
#
# Models live in build/bench-models/ (as bench/engine.sh keeps them): <shape>-f16.gguf and -q4_0.gguf from
# `sqz synth` (reused when present), the int variants from `sqz compress` of the F16 file (HF directories with
# GPTQ tensors, repacked at load into the grouped-int layout). Prints per model: tg tokens/s, weight GB/s
# (weight bytes per token × tokens/s) and the ratios int4/F16 and int4/llama.cpp-Q4_0, plus the load average
# (the machine may be shared: compare numbers taken under the same load).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SQZ=${SQZ_BIN:-$ROOT/build/sqz}
PY=${SQZ_VENV_PY:-$ROOT/build/venv/bin/python}
MODELS=${SQZ_BENCH_MODELS:-$ROOT/build/bench-models}
THREADS=2 REPS=3 N=64 P=0 SHAPE=tinyllama-1.1b
while [[ $# -gt 0 ]]; do
    case $1 in
    -t) THREADS=$2; shift ;;
    -r) REPS=$2; shift ;;
    -n) N=$2; shift ;;
    -p) P=$2; shift ;;
    --shape) SHAPE=$2; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "quant_speed.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x $SQZ ]] || { echo "quant_speed.sh: $SQZ not built" >&2; exit 1; }
mkdir -p "$MODELS"
VOCAB=$ROOT/../shared/data/tokenizers/vocab-gguf/ggml-vocab-llama-spm.gguf
for type in f16 q4_0; do
    f=$MODELS/$SHAPE-$type.gguf
    [[ -s $f ]] || "$SQZ" synth --shape "$SHAPE" --type "$type" --seed 0 --vocab "$VOCAB" -o "$f" >&2
done
variant() { # name recipe
    local d=$MODELS/$SHAPE-$1
    [[ -s $d/hf/config.json ]] || "$SQZ" compress "$MODELS/$SHAPE-f16.gguf" --recipe "$2" -t "$THREADS" --formats hf -o "$d" >&2
    echo "$d/hf"
}
INT8=$(variant rtn8 "rtn:bits=8")
INT4=$(variant rtn4g128 "rtn:bits=4,group=128")
# The same with the output head quantized too (the default skip list keeps it in F16, as GPTQModel's
# lm_head=false does; llama.cpp's Q4_0 file has a Q4_0 head): skip only the token embedding.
INT4H=$(variant rtn4g128-head "rtn:bits=4,group=128,skip=token_embd.*")

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
tag() { "$PY" -c 'import json,sys; [print(json.dumps(dict(r, label=sys.argv[1]))) for r in json.load(sys.stdin)]' "$1" >>"$RESULTS"; }
run_sqz() { # label model
    echo "== sqz $1" >&2
    OPENBLAS_NUM_THREADS=1 "$SQZ" bench "$2" -p "$P" -n "$N" -r 1 -t "$THREADS" -o json --no-probe | tag "$1"
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# Rounds interleave the four models (one repetition each after its warm-up), so load changes on a shared
# machine hit all of them alike; the table reports the median and the best round.
for ((round = 1; round <= REPS; round++)); do
    run_sqz "F16" "$MODELS/$SHAPE-f16.gguf"
    run_sqz "int8 (sqz)" "$INT8"
    run_sqz "int4 g128 (sqz)" "$INT4"
    run_sqz "int4 g128 + head (sqz)" "$INT4H"
    echo "== llama.cpp Q4_0" >&2
    "$PY" "$ROOT/bench/llamacpp_bench.py" "$MODELS/$SHAPE-q4_0.gguf" -p "$P" -n "$N" -r 1 -t "$THREADS" -o json |
        tag "Q4_0 (llama.cpp)"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
BW=$("$SQZ" bench "$MODELS/$SHAPE-f16.gguf" -p 0 -n 1 -r 1 -t "$THREADS" -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["probe_gbps"])')
"$PY" - "$RESULTS" "$THREADS" "$REPS" "$LOAD0" "$LOAD1" "$BW" "$MODELS/$SHAPE-q4_0.gguf" <<'PYEOF'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
q4_bytes = os.path.getsize(sys.argv[7])
runs = {}
for r in rows:
    runs.setdefault((r["label"], r["test"]), []).append(r)
print(f"\nthreads {sys.argv[2]}, {sys.argv[3]} interleaved rounds; load average {sys.argv[4]} before, {sys.argv[5]} after; "
      f"machine read bandwidth {float(sys.argv[6]):.2f} GB/s\n")
print("| model | test | t/s median | t/s best | weight GB/s (best) |")
print("| --- | ---: | ---: | ---: | ---: |")
best, med = {}, {}
for (label, test), rs in runs.items():
    ts = [r["t_s_mean"] for r in rs]
    b = max(rs, key=lambda r: r["t_s_mean"])
    gbps = b.get("weight_gbps")
    if gbps is None and test.startswith("tg"):  # llama.cpp: file bytes per token (≈ weights) × t/s
        gbps = q4_bytes * b["t_s_mean"] / 1e9
    if test.startswith("tg"):
        best[label], med[label] = max(ts), statistics.median(ts)
    print(f"| {label} | {test} | {statistics.median(ts):.2f} | {max(ts):.2f} | {gbps or 0:.2f} |")
def ratio(d, a, b):
    return d[a] / d[b] if a in d and b in d and d[b] > 0 else float("nan")
for name, d in (("median", med), ("best", best)):
    print(f"\n{name}: int4/F16 = {ratio(d, 'int4 g128 (sqz)', 'F16'):.2f}x (target >= 1.8), "
          f"int4/llama.cpp-Q4_0 = {ratio(d, 'int4 g128 (sqz)', 'Q4_0 (llama.cpp)'):.2f}x (target >= 1.0), "
          f"int8/F16 = {ratio(d, 'int8 (sqz)', 'F16'):.2f}x; with the head quantized: "
          f"int4/F16 = {ratio(d, 'int4 g128 + head (sqz)', 'F16'):.2f}x, "
          f"int4/llama.cpp-Q4_0 = {ratio(d, 'int4 g128 + head (sqz)', 'Q4_0 (llama.cpp)'):.2f}x")
PYEOF
