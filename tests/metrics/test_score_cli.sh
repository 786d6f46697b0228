#!/usr/bin/env bash
# CLI golden and bad-input tests for `sqz score`. Golden values: the CodeXGLUE Java→C# example
# (evaluator/predictions.txt vs references.txt), whose sacrebleu 2.6.0 corpus scores are recorded
# in ../shared/refs/metrics/public/sacrebleu_corpus.json (codexglue_example).
set -u
SQZ="${SQZ_BIN:-build/sqz}"
HERE="$(cd "$(dirname "$0")" && pwd)"
EX=../shared/data/datasets/codexglue-code2code-trans/evaluator
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# golden: human-readable output must equal the file byte for byte
golden() { # golden FILE ARGS...
    local want="$1"; shift
    if "$SQZ" score "$@" > "$TMP/out" 2> "$TMP/err" && cmp -s "$TMP/out" "$HERE/golden/$want"; then ok
    else bad "score $* (diff vs golden/$want:)"; diff "$TMP/out" "$HERE/golden/$want" >&2; cat "$TMP/err" >&2; fi
}
golden score_bleu.txt --metric bleu --hyp $EX/predictions.txt --ref $EX/references.txt
golden score_chrf.txt --metric chrf --hyp $EX/predictions.txt --ref $EX/references.txt
golden score_chrfpp.txt --metric chrf++ --hyp $EX/predictions.txt --ref $EX/references.txt

# --json: one object; --sentence --json: one object per line, in order
"$SQZ" score --metric bleu --hyp $EX/predictions.txt --ref $EX/references.txt --json > "$TMP/j" &&
    grep -q '"score":71.9005508226662' "$TMP/j" && grep -q '"counts":\[412,368,335,308\]' "$TMP/j" &&
    grep -q '"sys_len":507,"ref_len":470' "$TMP/j" && [ "$(wc -l < "$TMP/j")" -eq 1 ] && ok || bad "bleu --json"
"$SQZ" score --metric editsim --hyp $EX/predictions.txt --ref $EX/references.txt --json --sentence > "$TMP/s" &&
    [ "$(wc -l < "$TMP/s")" -eq 10 ] && ok || bad "--sentence --json gives 10 lines"
for m in rouge meteor em editsim; do
    "$SQZ" score --metric $m --hyp $EX/predictions.txt --ref $EX/references.txt --json > "$TMP/j" 2> /dev/null &&
        [ "$(wc -l < "$TMP/j")" -eq 1 ] && ok || bad "$m --json"
done
# identical hyp and ref: every metric is perfect
for m in em editsim; do
    "$SQZ" score --metric $m --hyp $EX/references.txt --ref $EX/references.txt --json | grep -q '"score":1.0' && ok || bad "$m identical = 1"
done
# --pairs with multi-line code and several refs
printf '%s\n' '{"hyp": "def f(x):\n    return x + 1", "refs": ["def f(x):\n    return x + 1", "def g(): pass"]}' \
    '{"hyp": "int a = 0;", "refs": ["int b = 0;"]}' > "$TMP/p.jsonl"
"$SQZ" score --metric rouge --pairs "$TMP/p.jsonl" --sentence --json > "$TMP/j" &&
    [ "$(wc -l < "$TMP/j")" -eq 2 ] && head -1 "$TMP/j" | grep -q '"rougeLsum":{"precision":1.0' && ok || bad "--pairs rouge"

# bad input: exit code and a message naming the problem
expect_err() { # expect_err CODE NEEDLE ARGS...
    local code="$1" needle="$2"; shift 2
    "$SQZ" score "$@" > /dev/null 2> "$TMP/err"; local rc=$?
    if [ "$rc" -eq "$code" ] && grep -q -- "$needle" "$TMP/err"; then ok
    else bad "score $*: rc $rc (want $code), stderr: $(cat "$TMP/err") (want '$needle')"; fi
}
head -3 $EX/references.txt > "$TMP/short.txt"
expect_err 1 "has 3 lines but --hyp $EX/predictions.txt has 10 lines" --metric bleu --hyp $EX/predictions.txt --ref "$TMP/short.txt"
expect_err 2 "unknown --metric 'blue'" --metric blue --hyp $EX/predictions.txt --ref $EX/references.txt
expect_err 2 "unknown --tokenize 'moses'" --metric bleu --tokenize moses --hyp $EX/predictions.txt --ref $EX/references.txt
expect_err 2 "unknown --lang 'cobol'" --metric codebleu --lang cobol --hyp $EX/predictions.txt --ref $EX/references.txt
expect_err 2 "needs --lang" --metric codebleu --hyp $EX/predictions.txt --ref $EX/references.txt
expect_err 2 "either --hyp" --metric bleu --hyp $EX/predictions.txt
expect_err 2 "--metric is required" --hyp $EX/predictions.txt --ref $EX/references.txt
expect_err 1 "nonexistent" --metric bleu --hyp "$TMP/nonexistent.txt" --ref $EX/references.txt
printf '%s\n' '{"hyp": "a", "refs": ["a"]}' '{"hyp": "b", "refs": ["b"' > "$TMP/bad.jsonl"
expect_err 1 "$TMP/bad.jsonl:2: malformed JSON" --metric bleu --pairs "$TMP/bad.jsonl"
printf '%s\n' '{"hyp": 3, "refs": ["a"]}' > "$TMP/bad2.jsonl"
expect_err 1 "$TMP/bad2.jsonl:1: expected" --metric chrf --pairs "$TMP/bad2.jsonl"
printf 'caf\xe9\n' > "$TMP/latin1.txt"
expect_err 1 "invalid UTF-8" --metric chrf --hyp "$TMP/latin1.txt" --ref "$TMP/latin1.txt"
expect_err 1 "WordNet" --metric meteor --wordnet "$TMP" --hyp $EX/predictions.txt --ref $EX/references.txt

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
