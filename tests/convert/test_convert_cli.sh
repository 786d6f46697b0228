#!/usr/bin/env bash
# CLI golden tests for `sqz convert` / `sqz synth`: exit codes and error messages on bad input.
set -u
SQZ=${SQZ_BIN:-build/sqz}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
# expect CODE NEEDLE -- command...: exit code and a substring of stderr
expect() {
    local code=$1 needle=$2
    shift 3
    local err rc
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [[ $rc == "$code" && $err == *"$needle"* ]]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $* -> exit $rc, stderr: $err (want $code, '$needle')"
    fi
}
A=../shared/refs/models/aidreams260K-hf
G=../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf
expect 2 "usage: sqz convert" -- "$SQZ" convert
expect 2 "unknown --type 'q3_x'" -- "$SQZ" convert "$A" -o "$T/x.gguf" --type q3_x
expect 2 "unknown option '--bogus'" -- "$SQZ" convert "$A" -o "$T/x.gguf" --bogus
expect 1 "no such file or directory" -- "$SQZ" convert /nonexistent/model -o "$T/x.gguf"
expect 1 "HF directory holds F32/F16/BF16 weights, not q8_0" -- "$SQZ" convert "$G" -o "$T/hf" --type q8_0
mkdir -p "$T/bad" && echo '{"architectures": ["LlamaForCausalLM"], "hidden_size": ' >"$T/bad/config.json"
expect 1 "config.json" -- "$SQZ" convert "$T/bad" -o "$T/x.gguf"
head -c 1000 "$G" >"$T/trunc.gguf"
expect 1 "trunc.gguf" -- "$SQZ" convert "$T/trunc.gguf" -o "$T/hf2"
expect 0 "wrote $T/ok.gguf" -- "$SQZ" convert "$A" -o "$T/ok.gguf" --type f16
expect 0 "wrote $T/ok-hf" -- "$SQZ" convert "$T/ok.gguf" -o "$T/ok-hf"
[[ -f $T/ok-hf/config.json && -f $T/ok-hf/model.safetensors && -f $T/ok-hf/tokenizer.json ]] && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL: GGUF -> HF files missing"; }
grep -q '"torch_dtype": "float16"' "$T/ok-hf/config.json" && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL: f16 GGUF -> HF keeps float16"; }
expect 2 "usage: sqz synth" -- "$SQZ" synth --shape tiny
expect 1 "unknown shape 'x'" -- "$SQZ" synth --shape x -o "$T/s.gguf"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
