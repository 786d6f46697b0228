#!/usr/bin/env bash
# Golden tests of `sqz tokenize`: exact stdout and exit codes; error messages on stderr.
set -u
SQZ="${SQZ_BIN:-build/sqz}"
S=../shared
pass=0 fail=0

# expect NAME WANT_RC WANT_STDOUT CMD... : exact stdout and exit code
expect() {
  local name=$1 rc=$2 want=$3
  shift 3
  local got code
  got=$("$@" 2>/tmp/sqz_tok_cli_err.$$)
  code=$?
  if [[ $code == "$rc" && "$got" == "$want" ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: rc=$code (want $rc)"; echo "  got:  $got"; echo "  want: $want"
    sed 's/^/  stderr: /' /tmp/sqz_tok_cli_err.$$
  fi
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
    echo "FAIL $name: rc=$code (want $rc), stderr: $err (want *$needle*)"
  fi
}

ONCE="1 429 491 433 295 429 444 445 265 262 263 342 430" # refs/models/aidreams260K-hf/tokenizer_check.jsonl
expect hf-dir 0 "$ONCE" "$SQZ" tokenize $S/refs/models/aidreams260K-hf "Once upon a time"
expect hf-dir-no-bos 0 "${ONCE#1 }" "$SQZ" tokenize $S/refs/models/aidreams260K-hf --no-bos "Once upon a time"
expect gguf-spm 0 "$ONCE" "$SQZ" tokenize $S/refs/models/aidreams260K-gguf/aidreams260K.gguf "Once upon a time"
expect json 0 "19556 905" "$SQZ" tokenize $S/data/tokenizers/smollm2-135m/tokenizer.json "Hello world"
expect special 0 "1 4093 198 19556 2" "$SQZ" tokenize $S/data/tokenizers/smollm2-135m/tokenizer.json \
  $'<|im_start|>user\nHello<|im_end|>'
expect gguf-bpe 0 "39 68 297 78 476 335" "$SQZ" tokenize $S/refs/models/gpt2-tiny-random/gpt2-tiny-random.f32.gguf "Hello world"
printf 'Once upon a time' > /tmp/sqz_tok_cli_in.$$
expect file 0 "$ONCE" "$SQZ" tokenize $S/refs/models/aidreams260K-hf --file /tmp/sqz_tok_cli_in.$$
expect stdin 0 "$ONCE" "$SQZ" tokenize $S/refs/models/aidreams260K-hf --file - < /tmp/sqz_tok_cli_in.$$
printf 'Hello world\0\0a' > /tmp/sqz_tok_cli_in.$$
expect batch 0 $'19556 905\n\n81' "$SQZ" tokenize $S/data/tokenizers/smollm2-135m/tokenizer.json --batch --file /tmp/sqz_tok_cli_in.$$
expect pieces 0 $'def\nĠf\n():\nĊ\nĉ\n\\\\' "$SQZ" tokenize $S/data/tokenizers/smollm2-135m/tokenizer.json --pieces \
  $'def f():\n\t\\'
expect empty 0 "" "$SQZ" tokenize $S/data/tokenizers/smollm2-135m/tokenizer.json ""

printf '{"model": {"type": "BPE",\n "vocab": {"a": 0,}}}' > /tmp/sqz_tok_cli_in.$$
expect_err bad-json 1 "invalid JSON at line 2, column" "$SQZ" tokenize /tmp/sqz_tok_cli_in.$$ x
expect_err missing 1 "nosuch/tokenizer.json: no such file" "$SQZ" tokenize nosuch/tokenizer.json x
expect_err unsupported 1 "unsupported tokenizer model 'bert'" "$SQZ" tokenize \
  $S/data/tokenizers/vocab-gguf/ggml-vocab-bert-bge.gguf x
expect_err usage 2 "usage: sqz tokenize" "$SQZ" tokenize
expect_err bad-option 2 "unknown option '--bogus'" "$SQZ" tokenize x --bogus
expect_err both-inputs 2 "usage" "$SQZ" tokenize x --file y text

rm -f /tmp/sqz_tok_cli_in.$$ /tmp/sqz_tok_cli_err.$$
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
