#!/usr/bin/env bash
# `sqz train distill`: a 4-block byte-level teacher is pretrained on Python text, then a student
# keeping every other block (2 blocks, initialised from the teacher's blocks 0 and 2) is distilled
# from the teacher's on-the-fly distributions. The distilled student must have clearly lower held-out
# KL to the teacher and lower held-out cross-entropy than the same student before distillation; the
# output is an HF directory plus a GGUF that sqz's engine loads with the same logits (when the build
# has `sqz logits`). Also: bad student specs.
set -u
SQZ=${SQZ_BIN:-build/sqz}
PY=${SQZ_VENV_PY:-build/venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
CORPUS=../shared/data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar
TOKSRC=build/test-models/llama-gqa # a 512-token SPM vocabulary so the outputs convert to GGUF
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
"$PY" scripts/make_test_models.py >/dev/null 2>&1
mkdir -p "$T/teacher"
cat >"$T/teacher.json" <<'J'
{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":160,
 "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":4,"max_position_embeddings":128,
 "rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":true,"vocab_size":512}
J
tout=$("$SQZ" train pretrain --config "$T/teacher.json" --corpus $CORPUS --corpus-bytes 600000 -o "$T/teacher" \
    --steps 150 --lr 3e-3 --batch 8 --seq 64 --eval-batches 8 --quiet) || bad "teacher pretraining"
echo "$tout" | tail -1
ceT=$(echo "$tout" | grep "^held-out loss" | awk '{print $5}')
cp $TOKSRC/tokenizer.json $TOKSRC/tokenizer.model $TOKSRC/tokenizer_config.json "$T/teacher/"
out=$("$SQZ" train distill --teacher "$T/teacher" --student every2 --tokenizer bytes --corpus $CORPUS \
    --corpus-bytes 600000 -o "$T/student" --steps 60 --lr 2e-3 --tau 2 --kl-weight 0.9 --batch 8 --seq 64 \
    --eval-batches 8 --quiet 2>&1)
echo "$out" | tail -2
line=$(echo "$out" | grep "^held-out loss")
read -r ce0 ce1 kl0 kl1 <<<"$(echo "$line" | sed -E 's/.*loss ([0-9.]+) -> ([0-9.]+).*KL to teacher ([0-9.]+) -> ([0-9.]+).*/\1 \2 \3 \4/')"
awk -v a="$kl0" -v b="$kl1" 'BEGIN{exit !(b < 0.6 * a)}' && ok || bad "held-out KL $kl0 -> $kl1"
# the student closes at least 30 % of its cross-entropy gap to the teacher
awk -v a="$ce0" -v b="$ce1" -v t="$ceT" 'BEGIN{exit !(a > t && b < a - 0.3 * (a - t))}' && ok ||
    bad "held-out loss $ce0 -> $ce1 (teacher $ceT)"
"$SQZ" info "$T/student" | grep -q "layers: *2" && ok || bad "student HF directory has 2 blocks"
"$SQZ" info "$T/student/model.gguf" | grep -q "layers: *2" && ok || bad "student GGUF has 2 blocks"
if "$SQZ" logits "$T/student/model.gguf" --ids "100 101 102" --out "$T/g.f32" 2>"$T/err"; then
    "$SQZ" logits "$T/student" --ids "100 101 102" --out "$T/h.f32"
    "$PY" -c "import numpy as np,sys; a=np.fromfile('$T/g.f32','<f4'); b=np.fromfile('$T/h.f32','<f4'); \
d=abs(a-b).max(); print('engine: GGUF vs HF student max |dlogit|', d); sys.exit(1 if d > 1e-4 else 0)" && ok || bad "GGUF logits"
elif ! grep -q "not available" "$T/err"; then
    bad "engine cannot load the student GGUF: $(cat "$T/err")"
fi
# errors
for spec in "" "every0" "0,9" "0,x"; do
    err=$("$SQZ" train distill --teacher "$T/teacher" --student "$spec" --tokenizer bytes --corpus $CORPUS \
        --corpus-bytes 100000 -o "$T/x" --steps 1 2>&1 >/dev/null)
    [[ $? == 1 && $err == *"distill:"* ]] && ok || bad "student spec '$spec': $err"
done
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
