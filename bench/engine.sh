#!/usr/bin/env bash
# Side-by-side speed of sqz and llama.cpp on random-weight models of real shapes.
#
#   bench/engine.sh [--quick] [-t THREADS] [-r REPS] [--shapes "smollm2-135m tinyllama-1.1b"] [--types "f16 q8_0 q4_0"]
#
# Makes SmolLM2-135M- and TinyLlama-1.1B-shaped GGUFs at F16, Q8_0 and Q4_0 with `sqz synth` in
# build/bench-models/ (reused when present; the 135M ones carry the real SmolLM2 vocabulary, the 1.1B ones the
# real Llama/TinyLlama SentencePiece vocabulary from ../shared/data/tokenizers/vocab-gguf), then on each file
# runs `sqz bench` and bench/llamacpp_bench.py (libllama through llama-cpp-python) with the same prompt length
# (pp512), generation length (tg128), repetitions and threads, and prints one table with sqz/llama.cpp ratios.
#
# OpenBLAS only matters for F32 weights (sqz's F16/BF16/Q8_0/Q4_0/Q4_1 batches run its own GEMM kernels,
# src/kernels/gemm.h), so it does not touch the files made here. For F32 files: Debian's OpenBLAS 0.3.21 reports
# Zen CPUs as "Zen" and uses its Haswell (AVX2) sgemm; on an AVX-512 Zen 4/5 the SkylakeX kernels are faster, so
# OPENBLAS_CORETYPE=SkylakeX is set only when /proc/cpuinfo lists avx512f. On an AVX2-only CPU (the Zen 3 build
# machine) forcing SkylakeX makes the first sgemm die with SIGILL (checked: exit 132), so it is left unset there.
# OPENBLAS_NUM_THREADS=1 only sizes OpenBLAS's start-up pool; sqz sets OpenBLAS to its own -t thread count.
# llama.cpp does not use OpenBLAS here.
#
# Default run (3 repetitions) takes roughly 8-10 minutes on 2 cores; --quick (1 repetition, tg32) about 3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SQZ=${SQZ_BIN:-$ROOT/build/sqz}
PY=${SQZ_VENV_PY:-$ROOT/build/venv/bin/python}
MODELS=${SQZ_BENCH_MODELS:-$ROOT/build/bench-models}
SHARED=$ROOT/../shared/data/tokenizers
THREADS=$(nproc)
REPS=3 P=512 N=128
SHAPES="smollm2-135m tinyllama-1.1b"
TYPES="f16 q8_0 q4_0"
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) REPS=1 N=32 ;;
    -t) THREADS=$2; shift ;;
    -r) REPS=$2; shift ;;
    -p) P=$2; shift ;;
    -n) N=$2; shift ;;
    --shapes) SHAPES=$2; shift ;;
    --types) TYPES=$2; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "engine.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x $SQZ ]] || { echo "engine.sh: $SQZ not built (cmake --build build --target sqz)" >&2; exit 1; }
mkdir -p "$MODELS"
vocab_for() {
    case $1 in
    smollm2-135m) echo "$SHARED/smollm2-135m/tokenizer.json" ;;
    tinyllama-1.1b) echo "$SHARED/vocab-gguf/ggml-vocab-llama-spm.gguf" ;;
    *) echo "" ;; # tiny: placeholder vocabulary
    esac
}
BLAS_ENV=(OPENBLAS_NUM_THREADS=1)
grep -qw avx512f /proc/cpuinfo && BLAS_ENV+=(OPENBLAS_CORETYPE=SkylakeX)
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
for shape in $SHAPES; do
    for type in $TYPES; do
        f=$MODELS/$shape-$type.gguf
        if [[ ! -s $f ]]; then
            v=$(vocab_for "$shape")
            "$SQZ" synth --shape "$shape" --type "$type" --seed 0 ${v:+--vocab "$v"} -o "$f" >&2
        fi
        echo "== $shape $type: sqz bench" >&2
        env "${BLAS_ENV[@]}" "$SQZ" bench "$f" -p "$P" -n "$N" -r "$REPS" -t "$THREADS" -o json |
            "$PY" -c 'import json,sys; [print(json.dumps(dict(r, engine="sqz", shape=sys.argv[1], type=sys.argv[2]))) for r in json.load(sys.stdin)]' "$shape" "$type" >>"$RESULTS"
        echo "== $shape $type: llama.cpp" >&2
        "$PY" "$ROOT/bench/llamacpp_bench.py" "$f" -p "$P" -n "$N" -r "$REPS" -t "$THREADS" -o json |
            "$PY" -c 'import json,sys; [print(json.dumps(dict(r, engine="llama.cpp", shape=sys.argv[1], type=sys.argv[2]))) for r in json.load(sys.stdin)]' "$shape" "$type" >>"$RESULTS"
    done
done
"$PY" - "$RESULTS" "$THREADS" "$REPS" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault((r["shape"], r["type"], r["test"]), {})[r["engine"]] = r
print(f"\nthreads {sys.argv[2]}, {sys.argv[3]} repetitions (mean ± sd tokens/s); ratio = sqz / llama.cpp\n")
print("| shape | type | test | sqz t/s | llama.cpp t/s | ratio |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for (shape, ty, test), e in by.items():
    s, l = e.get("sqz"), e.get("llama.cpp")
    fmt = lambda r: f"{r['t_s_mean']:.2f} ± {r['t_s_sd']:.2f}" if r else "-"
    ratio = f"{s['t_s_mean'] / l['t_s_mean']:.2f}x" if s and l and l["t_s_mean"] > 0 else "-"
    print(f"| {shape} | {ty} | {test} | {fmt(s)} | {fmt(l)} | {ratio} |")
PYEOF
