#!/usr/bin/env bash
# `sqz eval` on the real SmolLM2-135M-Instruct Q4_1 with small limits: every task kind runs on a real
# code-capable model (humaneval, quixbugs repair, Java->C# translation, completion, perplexity,
# divergence against its own baseline), results are stored, and the numbers are sane.
set -u
SQZ="${SQZ_BIN:-build/sqz}"
PY="${SQZ_VENV_PY:-python3}"
M="${SQZ_MODELS:-$HOME/.cache/sqz/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
if [ ! -f "$M" ]; then echo "SmolLM2 not found at $M (run scripts/setup.sh)" >&2; echo "0 passed, 1 failed"; exit 1; fi

"$SQZ" eval "$M" --tasks divergence --limit 1 -c 256 -t 1 --kl-base-out "$TMP/base.kl" > /dev/null 2> "$TMP/err" || bad "baseline: $(cat "$TMP/err")"
"$SQZ" eval "$M" --tasks humaneval,quixbugs,codexglue-java-cs,completion,perplexity,divergence --limit 1 --seed 3 \
    --max-tokens 40 -c 256 -t 1 --price-per-hour 1 --kl-base "$TMP/base.kl" --db "$TMP/r.db" --out "$TMP/r.json" \
    > "$TMP/table" 2> "$TMP/err" || bad "eval: $(cat "$TMP/err")"
cat "$TMP/table"
out=$("$PY" - "$TMP/r.json" "$TMP/r.db" <<'EOF'
import json, sqlite3, sys
d = json.load(open(sys.argv[1]))
t = {x["task"]: x for x in d["tasks"]}
assert set(t) == {"humaneval", "quixbugs", "codexglue-java-cs", "completion", "perplexity", "divergence"}
assert 4.5 < d["bits_per_weight"] < 6.5 and d["n_params"] == 134515008, "Q4_1 model"
for name in ("humaneval", "quixbugs", "codexglue-java-cs", "completion"):
    m = t[name]["metrics"]
    assert len(t[name]["samples"]) == 1 and m["prefill_tok_s"] > 0 and m["cost_per_1k_gen_tokens_usd"] > 0, name
    assert all(s["n_gen_tokens"] <= 40 for s in t[name]["samples"]), name
assert 0 <= t["humaneval"]["metrics"]["pass@1"] <= 1 and 0 <= t["quixbugs"]["metrics"]["pass@1"] <= 1
assert 0 <= t["codexglue-java-cs"]["metrics"]["bleu"] <= 100
ppl = t["perplexity"]["metrics"]["perplexity"]
assert 1 < ppl < 50, f"SmolLM2 perplexity on Python code {ppl}"
kl = t["divergence"]["metrics"]
assert kl["kld_mean"] == 0 and kl["same_top"] == 1 and kl["n_tokens"] == 127, "self divergence"
c = sqlite3.connect(sys.argv[2])
assert c.execute("select count(*) from runs where status='done'").fetchone()[0] == 6
print("ok", round(ppl, 3))
EOF
)
case "$out" in ok*) ok; echo "$out" ;; *) bad "results: $out" ;; esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
