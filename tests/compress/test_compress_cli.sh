#!/usr/bin/env bash
# `sqz compress` from the command line: exit codes and error messages, the files a run writes,
# the manifest's fields, the held-out text, and that `sqz logits` runs on both outputs.
set -u
SQZ="${SQZ_BIN:-build/sqz}"
M=../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf
T=$(mktemp -d /tmp/sqz-compress-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok() { # ok NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name"; fi
}

# expect_err NAME WANT_RC NEEDLE CMD... : exit code and a substring of stderr
expect_err() {
  local name=$1 rc=$2 needle=$3
  shift 3
  local err code
  err=$("$@" 2>&1 >/dev/null)
  code=$?
  if [[ $code == "$rc" && "$err" == *"$needle"* ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: rc=$code (want $rc), stderr: $err (want '$needle')"
  fi
}

expect_err usage 2 "--recipe" "$SQZ" compress "$M" -o "$T/x"
expect_err bad-option 2 "unexpected argument '--bogus'" "$SQZ" compress "$M" --recipe q8_0 -o "$T/x" --bogus
expect_err bad-recipe 1 "recipe 'gptq:bits=9'" "$SQZ" compress "$M" --recipe "gptq:bits=9" -o "$T/x"
expect_err unknown-step 1 "foo" "$SQZ" compress "$M" --recipe "foo:bits=4" -o "$T/x"
expect_err group 1 "group size 32 does not divide the width 172 of 'blk.0.ffn_down.weight'" \
  "$SQZ" compress "$M" --recipe "rtn:bits=4,group=32" -o "$T/x"
expect_err no-calib-file 1 "/nonexistent/c.txt" "$SQZ" compress "$M" --recipe "gptq:bits=4,group=0" --calib /nonexistent/c.txt -o "$T/x"
printf 'x = 1\n' >"$T/tiny.txt"
expect_err calib-too-small 1 "is too small" "$SQZ" compress "$M" --recipe "awq:bits=4,group=0" --calib "$T/tiny.txt" -o "$T/x"
expect_err unwritable 1 "cannot create the output directory" "$SQZ" compress "$M" --recipe q8_0 -o /proc/nope/x
expect_err no-model 1 "no such model" "$SQZ" compress /nonexistent.gguf --recipe q8_0 -o "$T/x"

# A GPTQ run: progress on stderr, all three outputs, a manifest with the fields the issue names.
"$SQZ" compress "$M" --recipe "gptq:bits=4,group=0" --calib-n 4 --calib-len 32 -t 1 -o "$T/g" 2>"$T/g.err"
ok gptq-rc test $? -eq 0
ok progress grep -q "block 4/4 .*ETA" "$T/g.err"
ok no-gguf test ! -e "$T/g/model.gguf" # per-channel 4-bit fits no llama.cpp type
ok hf-config grep -q '"quantization_config"' "$T/g/hf/config.json"
ok hf-tok test -s "$T/g/hf/tokenizer.json"
for key in source_sha256 recipe calibration sha256 bits_per_weight output_rel_sq_error weight_rel_sq_error; do
  ok "manifest-$key" grep -q "\"$key\"" "$T/g/manifest.json"
done
ok logits-hf "$SQZ" logits "$T/g/hf" --ids "1 2 3" -t 1 >/dev/null
"$SQZ" compress "$M" --recipe q8_0 -t 1 -o "$T/q" 2>/dev/null
ok gguf "$SQZ" logits "$T/q/model.gguf" --ids "1 2 3" -t 1 >/dev/null

"$SQZ" compress --heldout-text "$T/held.txt" 2>/dev/null
ok heldout test "$(wc -c <"$T/held.txt")" -gt 100000

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
