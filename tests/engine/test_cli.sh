#!/bin/bash
# CLI golden tests for sqz logits / generate / perplexity on the reference models (../shared/refs).
set -u
SQZ=${SQZ_BIN:-build/sqz}
R=../shared/refs/models
PY=${SQZ_VENV_PY:-python3}
[ -x "$PY" ] || PY=/usr/bin/python3
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect() { # name expected actual
    if [ "$2" == "$3" ]; then ok; else bad "$1: expected '$2', got '$3'"; fi
}
expect_err() { # name exit-code needle command...
    local name=$1 code=$2 needle=$3; shift 3
    local out; out=$("$@" 2>&1 >/dev/null); local rc=$?
    if [ $rc -eq "$code" ] && [[ "$out" == *"$needle"* ]]; then ok; else bad "$name: rc $rc, stderr '$out'"; fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# OpenBLAS's kernels: without OPENBLAS_CORETYPE in the environment, sqz runs with a core type that
# uses what this CPU has (an OpenBLAS older than the CPU falls back to SSE3 kernels by itself; sqz
# re-executes itself with the variable set). `sqz --version` prints the machine it computes on.
machine=$(env -u OPENBLAS_CORETYPE $SQZ --version | sed -n 's/^machine: //p')
core=${machine##*openblas }
case " ${machine%%;*} " in
*" avx512f "*" avx512dq "*) [[ $core =~ ^(SkylakeX|Cooperlake|SapphireRapids)$ ]] && ok || bad "AVX-512 CPU, OpenBLAS core '$core' ($machine)" ;;
*" avx2 "*) [[ $core =~ ^(Haswell|Zen|Skylake|SkylakeX|Cooperlake|SapphireRapids)$ ]] && ok || bad "AVX2 CPU, OpenBLAS core '$core' ($machine)" ;;
*) ok ;;
esac
expect "OPENBLAS_CORETYPE is respected" "Haswell" "$(OPENBLAS_CORETYPE=Haswell $SQZ --version | sed -n 's/^machine: .*openblas //p')"
G=$R/aidreams260K-gguf/aidreams260K.gguf

# generate: greedy text continuation and ids (llama2.c's 32 tokens for "Once upon a time").
out=$($SQZ generate $G -p "Once upon a time" --temp 0 -n 32 --ignore-eos -t 2)
expect "generate text" ", pixels unfolding like petals. Classifications unfold, a kaleidos" "$out"
ids=$(sed -n 2p $R/aidreams260K-gguf/prompts.txt)
want=$("$PY" -c "import json;print(' '.join(map(str,json.load(open('$R/aidreams260K-gguf/logits_llama2c.json'))['cases'][1]['greedy_ids'])))")
expect "generate --ids" "$want" "$($SQZ generate $G --prompt-ids "$ids" --temp 0 -n 32 --ignore-eos --ids)"
# GQA model in HF layout, greedy ids vs llama.cpp.
ids=$("$PY" -c "import json;print(' '.join(map(str,json.load(open('$R/stories260K-hf/logits_llamacpp_from_hf_gguf.json'))['cases'][2]['prompt_ids'])))")
want=$("$PY" -c "import json;print(' '.join(map(str,json.load(open('$R/stories260K-hf/logits_llamacpp_from_hf_gguf.json'))['cases'][2]['greedy_ids'])))")
expect "generate GQA --ids" "$want" "$($SQZ generate $R/stories260K-hf --prompt-ids "$ids" --temp 0 -n 32 --ignore-eos --ids)"
# --stream prints the same text (tokens written as they come, stop-string prefixes held back)
expect "generate --stream" ", pixels unfolding like petals. Classifications unfold, a kaleidos" \
    "$($SQZ generate $G -p "Once upon a time" --temp 0 -n 32 --ignore-eos -t 2 --stream)"
expect "generate --stream --stop" ", pixels" "$($SQZ generate $G -p "Once upon a time" --temp 0 -n 32 --stop " unfolding" --stream)"
# a reader that stops early (head) gets the start of the text
first=$( { $SQZ generate $G -p "Once upon a time" --temp 0 -n 32 --ignore-eos -t 1 --stream; } | head -c 8)
expect "generate --stream first bytes" ", pixels" "$first"
# stop strings cut the output before the stop string
expect "generate --stop" ", pixels" "$($SQZ generate $G -p "Once upon a time" --temp 0 -n 32 --stop " unfolding")"
# sampling is deterministic for a seed
a=$($SQZ generate $G -p "I dreamed" --temp 0.9 --top-k 20 --top-p 0.9 --min-p 0.02 --seed 7 -n 24 --ids)
b=$($SQZ generate $G -p "I dreamed" --temp 0.9 --top-k 20 --top-p 0.9 --min-p 0.02 --seed 7 -n 24 --ids)
expect "seeded sampling repeatable" "$a" "$b"
[ "$(echo $a | wc -w)" -eq 24 ] && ok || bad "sampled 24 ids: '$a'"

# logits --out: float32 [n][n_vocab] equal to llama2.c's within 5e-4.
ids=$(sed -n 4p $R/aidreams260K-gguf/prompts.txt)
$SQZ logits $G --ids "$ids" --out $tmp/l.bin -t 2 && ok || bad "logits --out"
"$PY" - "$tmp/l.bin" "$R/aidreams260K-gguf/logits_llama2c.json" <<'PYEOF' && ok || bad "logits --out values"
import json, struct, sys
raw = open(sys.argv[1], 'rb').read()
ref = json.load(open(sys.argv[2]))['cases'][3]['logits']
got = struct.unpack('<%df' % (len(raw) // 4), raw)
flat = [v for row in ref for v in row]
assert len(got) == len(flat), (len(got), len(flat))
d = max(abs(a - b) for a, b in zip(got, flat))
print('logits --out max diff %.2e' % d)
sys.exit(0 if d < 5e-4 else 1)
PYEOF
top=$($SQZ logits $G --ids "1" | head -1)
[[ "$top" == "0 (id 1):"* ]] && ok || bad "logits top-5 line: '$top'"

# perplexity reproduces llama-perplexity (F32 KV): 61.9969 +/- 7.31739 at -c 128, 60.6207 at -c 64.
out=$($SQZ perplexity $G -f ../shared/refs/perplexity/aidreams260K/dreams_eval.txt -c 128 -b 128 -t 2 2>/dev/null)
expect "perplexity c128" "PPL = 61.9969 +/- 7.31739" "$(echo "$out" | tail -1)"
expect "perplexity chunks" "[1]43.4118,[2]56.1140,[3]66.6737,[4]61.8444,[5]49.9419,[6]57.3518,[7]59.6272,[8]61.9969," "$(echo "$out" | head -1)"
out=$($SQZ perplexity $G -f ../shared/refs/perplexity/aidreams260K/dreams_eval.txt -c 64 -b 32 2>/dev/null | tail -1)
[[ "$out" == "PPL = 60.6207 +/- 7.4785"* ]] && ok || bad "perplexity c64 b32: '$out'"
out=$($SQZ perplexity $G --ids-file ../shared/refs/perplexity/aidreams260K/dreams_eval.tokens.txt -c 128 2>/dev/null | tail -1)
expect "perplexity --ids-file" "PPL = 61.9969 +/- 7.31739" "$out"

# errors
expect_err "context overflow" 1 "context overflow" $SQZ logits $G --ids "1 2 3 4 5" -c 4
expect_err "id out of range" 1 "outside the vocabulary" $SQZ logits $G --ids "1 512"
expect_err "bad id list" 2 "bad token id" $SQZ logits $G --ids "1 x2"
expect_err "bad top-p" 1 "top-p" $SQZ generate $G -p "hi" --top-p 1.5
expect_err "bad min-p" 1 "min-p" $SQZ generate $G -p "hi" --min-p -1
expect_err "bad temp" 2 "--temp" $SQZ generate $G -p "hi" --temp abc
expect_err "bad repeat penalty" 1 "repeat penalty" $SQZ generate $G -p "hi" --repeat-penalty 0
expect_err "missing model" 1 "nope.gguf" $SQZ generate $tmp/nope.gguf -p "hi"
expect_err "prompt too long" 1 "does not fit" $SQZ generate $G --prompt-ids "1 2 3 4 5 6" -c 4
expect_err "gpt2 ctx beyond positions" 1 "learned positions" $SQZ logits $R/gpt2-tiny-random/hf --ids "1" -c 4096
expect_err "perplexity too short" 1 "at least" $SQZ perplexity $G --ids-file ../shared/refs/perplexity/aidreams260K/dreams_eval.tokens.txt -c 2048
# broken HF directories (config edited, weights symlinked): clear errors, no crash
mkbad() { # dir python-edit-of-config
    mkdir -p $tmp/$1 && ln -sf "$(realpath $R/aidreams260K-hf/model.safetensors)" $tmp/$1/model.safetensors
    "$PY" -c "import json,sys;c=json.load(open('$R/aidreams260K-hf/config.json'));$2;json.dump(c,open('$tmp/$1/config.json','w'))"
}
mkbad missing "c['num_hidden_layers']=5"
expect_err "missing tensor" 1 "model.layers.4" $SQZ logits $tmp/missing --ids "1 2"
mkbad shape "c['intermediate_size']=180"
expect_err "shape mismatch" 1 "shape" $SQZ logits $tmp/shape --ids "1 2"
mkbad arch "c['architectures']=['FalconForCausalLM'];c['model_type']='falcon'"
expect_err "unsupported architecture" 1 "alcon" $SQZ logits $tmp/arch --ids "1 2"
expect_err "usage" 2 "required" $SQZ generate $G

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
