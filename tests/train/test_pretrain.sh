#!/usr/bin/env bash
# `sqz train pretrain` on real Python text (the stdlib corpus, byte-level vocabulary):
#  - the training loss and the held-out loss go down (Llama and GPT-2 blocks);
#  - a run stopped at step 5 and resumed from its checkpoint ends bit-identical to an uninterrupted
#    run (weights and AdamW state), with gradient accumulation and a warmup + cosine schedule;
#  - usage and bad-input errors.
set -u
SQZ=${SQZ_BIN:-build/sqz}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
CORPUS=../shared/data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() { # expect CODE NEEDLE -- command...
    local code=$1 needle=$2
    shift 3
    local err rc
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [[ $rc == "$code" && $err == *"$needle"* ]]; then ok; else bad "$* -> exit $rc, stderr: $err"; fi
}
cat >"$T/llama.json" <<'J'
{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":128,
 "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"max_position_embeddings":128,
 "rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":true,"vocab_size":256}
J
cat >"$T/gpt2.json" <<'J'
{"architectures":["GPT2LMHeadModel"],"model_type":"gpt2","n_embd":64,"n_head":4,"n_layer":2,"n_positions":128,
 "layer_norm_epsilon":1e-5,"vocab_size":256,"activation_function":"gelu_new"}
J
# held-out loss goes down clearly
for arch in llama gpt2; do
    out=$("$SQZ" train pretrain --config "$T/$arch.json" --corpus $CORPUS --corpus-bytes 400000 -o "$T/$arch" \
        --steps 40 --lr 3e-3 --batch 8 --seq 64 --quiet 2>&1)
    echo "$out" | tail -2
    line=$(echo "$out" | grep "^held-out loss")
    before=$(echo "$line" | awk '{print $3}') after=$(echo "$line" | awk '{print $5}')
    if awk -v b="$before" -v a="$after" 'BEGIN{exit !(a < b - 1.5)}'; then ok; else bad "$arch: held-out loss $before -> $after"; fi
    [[ -s $T/$arch/model.safetensors && -s $T/$arch/config.json ]] && ok || bad "$arch: no HF directory written"
    # the written model opens and has the trained shape
    "$SQZ" info "$T/$arch" | grep -q "layers: *2" && ok || bad "$arch: sqz info on the output"
done
# resume is bit-identical
args=(--config "$T/llama.json" --corpus $CORPUS --corpus-bytes 200000 --steps 10 --warmup 2 --accum 2 --lr 2e-3
      --batch 4 --seq 32 --quiet)
"$SQZ" train pretrain "${args[@]}" -o "$T/full" >/dev/null || bad "full run"
"$SQZ" train pretrain "${args[@]}" -o "$T/res" --stop-after 5 >/dev/null || bad "first half"
"$SQZ" train pretrain "${args[@]}" -o "$T/res" --resume >/dev/null || bad "resumed half"
cmp -s "$T/full/model.safetensors" "$T/res/model.safetensors" && ok || bad "resumed weights differ"
cmp -s "$T/full/checkpoint.bin" "$T/res/checkpoint.bin" && ok || bad "resumed optimizer state differs"
# a different seed gives different weights (the comparison above can fail)
"$SQZ" train pretrain "${args[@]}" --seed 2 -o "$T/seed2" >/dev/null || bad "seed 2 run"
cmp -s "$T/full/model.safetensors" "$T/seed2/model.safetensors" && bad "seed has no effect" || ok
# a token budget: 256 tokens at 2 x 32 per step = 4 steps
out=$("$SQZ" train pretrain --config "$T/llama.json" --corpus $CORPUS --corpus-bytes 100000 -o "$T/tok" --tokens 256 \
    --batch 2 --seq 32 --quiet)
[[ $out == *"trained 4 steps, 256 tokens"* ]] && ok || bad "--tokens budget: $out"
# errors
expect 2 "missing mode" -- "$SQZ" train
expect 2 "unknown mode 'fly'" -- "$SQZ" train fly
expect 2 "unknown option '--bogus'" -- "$SQZ" train pretrain --bogus
expect 2 "--steps expects an integer" -- "$SQZ" train pretrain --steps x
expect 2 "are required" -- "$SQZ" train pretrain --config "$T/llama.json"
expect 1 "No such file" -- "$SQZ" train pretrain --config "$T/llama.json" --corpus /nonexistent -o "$T/x" --steps 1
expect 1 "checkpoint" -- "$SQZ" train pretrain --config "$T/gpt2.json" --corpus $CORPUS --corpus-bytes 100000 \
    -o "$T/full" --steps 2 --batch 2 --seq 16 --resume
expect 1 "seq 4096" -- "$SQZ" train pretrain --config "$T/llama.json" --corpus $CORPUS --corpus-bytes 100000 -o "$T/x" \
    --steps 1 --seq 4096
# a tar entry with a bad header (no valid checksum; its size also runs past the end of the file)
{ printf 'a.py'; head -c 120 /dev/zero; printf '77777777777\0'; head -c 121 /dev/zero; printf 'ustar\0'; \
  head -c 249 /dev/zero; printf 'x = 1\n'; } >"$T/bad.tar"
expect 1 "bad tar header" -- "$SQZ" train pretrain --config "$T/llama.json" --corpus "$T/bad.tar" -o "$T/x" --steps 1
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
