#!/usr/bin/env bash
# Pruning through `sqz compress` from the command line: bad parameters give clear errors (exit 1,
# the message names the step, key or tensor); a 2:4 run writes sqz's sparse layout into hf/ and
# `sqz info` reports achieved sparsity, storage and compute per layer, saying plainly where sparsity
# is only simulated; a layer-dropped model is smaller in config.json and converts to a GGUF that
# gives the same logits.
set -u
SQZ="${SQZ_BIN:-build/sqz}"
PY="${SQZ_VENV_PY:-build/venv/bin/python}"
M=../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf
T=$(mktemp -d /tmp/sqz-prune-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok() { # ok NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name"; fi
}

# expect_err NAME RECIPE NEEDLE : exit code 1 and a substring of stderr
expect_err() {
  local name=$1 recipe=$2 needle=$3 err code
  err=$("$SQZ" compress "$M" --recipe "$recipe" --calib-n 2 --calib-len 32 -t 1 -o "$T/x" 2>&1 >/dev/null)
  code=$?
  if [[ $code == 1 && "$err" == *"$needle"* ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: rc=$code (want 1), stderr: $err (want '$needle')"
  fi
}

expect_err sparsity-range "magnitude:sparsity=1.5" "sparsity: expected a number in 0..1, got '1.5'"
expect_err pattern-m "wanda:pattern=2:3" "pattern: M must be a power of two in 4..64, got '2:3'"
expect_err pattern-vs-sparsity "magnitude:pattern=2:4,sparsity=0.3" "sparsity=0.3 contradicts pattern=2:4"
expect_err pattern-width "magnitude:pattern=8:16" "blk.0.ffn_down.weight: magnitude: pattern 8:16: n_in = 172 is not a multiple of 16"
expect_err global-pattern "magnitude:scope=global,pattern=2:4" "scope=global cannot be combined with an N:M pattern"
expect_err sparsegpt-bits "sparsegpt:bits=1" "sparsegpt: bits must be 0 (no quantization) or 2..8, got 1"
expect_err lowrank-both "lowrank:rank=4,energy=0.5" "lowrank: give exactly one of rank=R or energy=E"
expect_err lowrank-rank "lowrank:rank=65" "lowrank: rank 65 is larger than the matrix allows (min(64, 64) = 64)"
expect_err heads-all "heads:drop=4" "heads: drop=4 would remove all 4 heads of a layer"
expect_err mlp-range "mlp:channels=1" "mlp: channels (fraction of MLP channels to remove) must be in (0, 1), got 1"
expect_err mlp-none "mlp:channels=0.001" "removes 0; it must remove at least one"
expect_err layers-all "layers:drop=4" "layers: drop=4 would remove all 4 transformer blocks"
expect_err twice "heads:drop=2 + heads" "step 'heads' given twice"
expect_err order "rtn:bits=8 + wanda" "the pruning step 'wanda' must come before the quantization step 'rtn'"
expect_err two-prunes "magnitude + wanda" "is pruned by two steps ('magnitude' and 'wanda')"
expect_err joint-plus-quant "sparsegpt:bits=4 + rtn:bits=8" "sparsegpt:bits=4 already quantizes it"
expect_err awq-after-prune "wanda + awq:bits=4,group=0" "awq after 'wanda' is not supported"

# 2:4: q/k/v/o/gate/up (64 wide) in sqz's 2:4 layout, down (172 wide) dense with zeros.
"$SQZ" compress "$M" --recipe "wanda:pattern=2:4" --calib-n 4 --calib-len 32 -t 1 -o "$T/s" 2>/dev/null
ok sparse-rc test $? -eq 0
ok sp-config grep -q '"sparsity_config"' "$T/s/hf/config.json"
"$SQZ" info "$T/s" >"$T/info.txt"
ok info-rc test $? -eq 0
ok info-recipe grep -q "^compress recipe: wanda:.*pattern=2:4" "$T/info.txt"
ok info-24 grep -q "blk.0.attn_q.weight .* 0.5000 2:4 .*2:4 compressed (F16 values + 2-bit indices); compute sparse: 2:4 F16 GEMV kernel" "$T/info.txt"
ok info-simulated grep -q "blk.0.ffn_down.weight .*dense with zeros: sparsity simulated (no bytes or time saved); compute dense" "$T/info.txt"
ok info-needs-sqz grep -q "the HF checkpoint needs sqz to load" "$T/info.txt"
"$SQZ" info "$T/s/hf" --json >"$T/info.json"
ok info-json "$PY" -c 'import json,sys; o=json.load(open(sys.argv[1])); l=o["compress"]["layers"][0]["pruning"]; assert l["pattern"]=="2:4" and l["sparsity"]==0.5, l' "$T/info.json"
"$SQZ" logits "$T/s/hf" --ids "1 2 3 4 5" -t 1 --out "$T/hf.bin" && "$SQZ" logits "$T/s/model.gguf" --ids "1 2 3 4 5" -t 1 --out "$T/gg.bin"
ok sparse-logits "$PY" -c 'import numpy as np,sys; a,b=(np.fromfile(f,dtype=np.float32) for f in sys.argv[1:]); d=abs(a-b).max(); print("2:4 hf vs gguf max |dlogit|", d); assert d<1e-4' "$T/hf.bin" "$T/gg.bin"

# 80 % unstructured: CSR in hf/ (smaller than dense F16), decoded at load; same logits as the GGUF.
"$SQZ" compress "$M" --recipe "magnitude:sparsity=0.8" -t 1 -o "$T/c" 2>/dev/null
ok csr-rc test $? -eq 0
ok csr-config grep -q '"storage": "csr"' "$T/c/hf/config.json"
ok csr-info grep -q "CSR (F16 values" <("$SQZ" info "$T/c")
ok csr-smaller test "$(stat -c %s "$T/c/hf/model.safetensors")" -lt "$(stat -c %s "$T/c/model.gguf")"
"$SQZ" logits "$T/c/hf" --ids "1 2 3 4 5" -t 1 --out "$T/chf.bin" && "$SQZ" logits "$T/c/model.gguf" --ids "1 2 3 4 5" -t 1 --out "$T/cgg.bin"
ok csr-logits "$PY" -c 'import numpy as np,sys; a,b=(np.fromfile(f,dtype=np.float32) for f in sys.argv[1:]); d=abs(a-b).max(); print("CSR hf vs gguf max |dlogit|", d); assert a.size and d<1e-4' "$T/chf.bin" "$T/cgg.bin"

# Layer dropping: a smaller model; hf/ converts to a GGUF with the same logits as model.gguf.
"$SQZ" compress "$M" --recipe "layers:drop=1" --calib-n 4 --calib-len 32 -t 1 -o "$T/l" 2>/dev/null
ok layers-rc test $? -eq 0
ok layers-config grep -q '"num_hidden_layers": 3' "$T/l/hf/config.json"
ok layers-info "$SQZ" info "$T/l" | grep -q "structured:      layers 4 -> 3"
"$SQZ" convert "$T/l/hf" -o "$T/l/conv.gguf" >/dev/null 2>&1
ok convert-rc test $? -eq 0
"$SQZ" logits "$T/l/conv.gguf" --ids "1 2 3 4 5" -t 1 --out "$T/c.bin" && "$SQZ" logits "$T/l/model.gguf" --ids "1 2 3 4 5" -t 1 --out "$T/m.bin"
ok layers-logits "$PY" -c 'import numpy as np,sys; a,b=(np.fromfile(f,dtype=np.float32) for f in sys.argv[1:]); d=abs(a-b).max(); print("layers:drop=1 converted vs model.gguf max |dlogit|", d); assert a.size and d<1e-4' "$T/c.bin" "$T/m.bin"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
