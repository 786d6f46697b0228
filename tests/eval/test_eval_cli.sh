#!/usr/bin/env bash
# End-to-end `sqz eval` on a tiny real model (aidreams260K: an English story model, so pass rates are
# 0, but every task must run): perplexity equals `sqz perplexity` (and llama-perplexity's value),
# divergence of a model against its own baseline is 0 with 100 % top-token agreement, completion and
# humaneval --limit 3 produce samples, metrics, systems measurements and signatures; --db stores the
# cells once (a re-run finds them done); bad input gives clear errors.
set -u
SQZ="${SQZ_BIN:-build/sqz}"
PY="${SQZ_VENV_PY:-python3}"
M=../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf
TEXT=../shared/refs/perplexity/aidreams260K/dreams_eval.txt
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
jq_() { "$PY" -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# perplexity task == sqz perplexity == llama-perplexity (61.9969 at -c 128, refs/perplexity/aidreams260K)
"$SQZ" eval $M --tasks perplexity --text $TEXT -c 128 -t 1 --out "$TMP/ppl.json" > /dev/null 2> "$TMP/err" || bad "eval perplexity: $(cat "$TMP/err")"
want=$("$SQZ" perplexity $M -f $TEXT -c 128 -t 1 2>/dev/null | sed -n 's/^PPL = \([0-9.]*\) .*/\1/p')
got=$(jq_ "$TMP/ppl.json" "'%.4f' % d['tasks'][0]['metrics']['perplexity']")
[ "$got" = "$want" ] && [ "$got" = "61.9969" ] && ok || bad "perplexity task $got vs sqz perplexity $want (llama-perplexity 61.9969)"
[ "$(jq_ "$TMP/ppl.json" "d['tasks'][0]['metrics']['n_chunks']")" = "8.0" ] && ok || bad "8 chunks of 128"

# held-out corpus: the first 2 chunks equal sqz perplexity's [2] on the same held-out text
# (the split: sha256(member name)[:4] big-endian % 10 == 0, sqz/compress.h)
"$PY" - "$TMP/heldout.txt" <<'EOF'
import hashlib, sys, tarfile
t = tarfile.open("../shared/data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar")
held = lambda n: int.from_bytes(hashlib.sha256(n.encode()).digest()[:4], "big") % 10 == 0
text = b"".join(t.extractfile(m).read() + b"\n" for m in t.getmembers() if m.isfile() and held(m.name))
open(sys.argv[1], "wb").write(text[:20000])
EOF
"$SQZ" eval $M --tasks perplexity --limit 2 -c 128 -t 1 --json > "$TMP/hp.json" 2> "$TMP/err" || bad "held-out perplexity: $(cat "$TMP/err")"
want=$("$SQZ" perplexity $M -f "$TMP/heldout.txt" -c 128 -t 1 2>/dev/null | tr ',' '\n' | sed -n 's/^\[2\]//p')
got=$(jq_ "$TMP/hp.json" "'%.4f' % d['tasks'][0]['metrics']['perplexity']")
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "held-out perplexity $got vs sqz perplexity [2] $want"

# divergence: the model against its own baseline
"$SQZ" eval $M --tasks divergence --limit 3 -c 128 -t 1 --kl-base-out "$TMP/base.kl" > /dev/null 2> "$TMP/err" || bad "baseline: $(cat "$TMP/err")"
"$SQZ" eval $M --tasks divergence -c 128 -t 1 --kl-base "$TMP/base.kl" --json > "$TMP/kl.json" 2> "$TMP/err" || bad "divergence: $(cat "$TMP/err")"
[ "$(jq_ "$TMP/kl.json" "d['tasks'][0]['metrics']['kld_mean'] == 0 and d['tasks'][0]['metrics']['kld_p99'] == 0")" = True ] && ok || bad "self KL is 0"
[ "$(jq_ "$TMP/kl.json" "d['tasks'][0]['metrics']['same_top'], d['tasks'][0]['metrics']['n_tokens']")" = "1.0 189.0" ] && ok || bad "self same-top 100 % over 3 x 63 tokens"
[ "$(jq_ "$TMP/kl.json" "d['tasks'][0]['primary'], d['tasks'][0]['signature']['metric']['baseline_top_k']")" = "kld_mean 32" ] && ok || bad "divergence primary metric / signature"

# --kl-base-model writes the full model's baseline first; Q8_0 is closer to F32 than Q4_0
Q=../shared/refs/models/aidreams260K-quant
"$SQZ" eval $Q/aidreams260K-Q8_0.gguf --tasks divergence --limit 4 -c 128 -t 1 --kl-base "$TMP/auto.kl" --kl-base-model $M --json > "$TMP/q8.json" 2> "$TMP/err" || bad "kl-base-model: $(cat "$TMP/err")"
"$SQZ" eval $Q/aidreams260K-Q4_0.gguf --tasks divergence --limit 4 -c 128 -t 1 --kl-base "$TMP/auto.kl" --json > "$TMP/q4.json" 2> "$TMP/err" || bad "Q4_0 divergence: $(cat "$TMP/err")"
k8=$(jq_ "$TMP/q8.json" "d['tasks'][0]['metrics']['kld_mean']"); k4=$(jq_ "$TMP/q4.json" "d['tasks'][0]['metrics']['kld_mean']")
"$PY" -c "import sys; sys.exit(not (0 < $k8 < $k4 < 1))" && ok || bad "KL: 0 < Q8_0 ($k8) < Q4_0 ($k4) < 1"

# generation tasks, stored
"$SQZ" eval $M --tasks completion,humaneval --limit 3 -t 1 --price-per-hour 2.5 --db "$TMP/r.db" --out "$TMP/gen.json" > "$TMP/table" 2> "$TMP/err" || bad "eval completion,humaneval: $(cat "$TMP/err")"
grep -q "^humaneval  *pass@1  *0.0000  *3 " "$TMP/table" && grep -q "^completion  *codebleu " "$TMP/table" && ok || bad "summary table: $(cat "$TMP/table")"
check_py() { "$PY" - "$@" <<'EOF'
import hashlib, json, os, sys
d = json.load(open(sys.argv[1])); model = sys.argv[2]
sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
assert d["model_sha256"] == sha and d["bytes_on_disk"] == os.path.getsize(model), "model identity"
assert d["bits_per_weight"] == 32.0 and d["peak_rss_mb"] > 0 and d["load_s"] >= 0, "model measurements"
for t in d["tasks"]:
    m, s = t["metrics"], t["samples"]
    assert len(s) == 3 and m["n_items"] == 3, t["task"]
    for k in ("latency_p50_s", "latency_p90_s", "latency_p99_s", "ttft_p50_s", "prefill_tok_s", "gen_tok_s",
              "cost_per_1k_gen_tokens_usd", "peak_rss_mb", "bits_per_weight", "load_s", "edit_sim", "exact_match"):
        assert k in m and m[k] is not None, (t["task"], k)
    assert any(k.startswith("latency_p50_s_prompt_") for k in m), "per-bucket latency"
    assert abs(m["cost_per_1k_gen_tokens_usd"] - 2.5 / (m["gen_tok_s"] * 3600) * 1000) < 1e-9 * m["cost_per_1k_gen_tokens_usd"] + 1e-15
    sig = t["signature"]
    assert sig["model_sha256"] == sha and sig["task"] == t["task"] and sig["limit"] == 3 and sig["seed"] == 0
    assert sig["sampling"]["temperature"] == 0 and sig["recipe"] == "none" and sig["cpu_features"] is not None
    for x in s:
        assert x["latency_s"] >= x["ttft_s"] >= 0 and x["n_prompt_tokens"] > 0 and x["prompt"] and x["reference"]
hv = [t for t in d["tasks"] if t["task"] == "humaneval"][0]
assert hv["primary"] == "pass@1" and hv["metrics"]["pass@1"] == 0.0, "story model fails HumanEval"
assert all(x["outcome"] == 0 and x["item_id"].startswith("HumanEval/") for x in hv["samples"])
assert all("\ndef " not in x["generated"] and "\n#" not in x["generated"] for x in hv["samples"]), "stops cut"
cp = [t for t in d["tasks"] if t["task"] == "completion"][0]
assert cp["primary"] == "codebleu" and all(x["outcome"] == -1 for x in cp["samples"])
print("ok")
EOF
}
[ "$(check_py "$TMP/gen.json" $M 2>&1)" = ok ] && ok || bad "results JSON: $(check_py "$TMP/gen.json" $M 2>&1 | tail -3)"
n_runs=$("$PY" -c "import sqlite3; c=sqlite3.connect('$TMP/r.db'); print(c.execute(\"select count(*) from runs where status='done'\").fetchone()[0], c.execute('select count(*) from samples').fetchone()[0])")
[ "$n_runs" = "2 6" ] && ok || bad "store: runs/samples = $n_runs, want 2 6"
"$SQZ" eval $M --tasks completion,humaneval --limit 3 -t 1 --price-per-hour 2.5 --db "$TMP/r.db" > "$TMP/table2" 2>&1 || bad "re-run"
[ "$(grep -c "already in the database with the same signature: skipped" "$TMP/table2")" = 2 ] && ok || bad "re-run skips finished cells: $(cat "$TMP/table2")"
n_runs2=$("$PY" -c "import sqlite3; c=sqlite3.connect('$TMP/r.db'); print(c.execute(\"select count(*) from runs where status='done'\").fetchone()[0], c.execute('select count(*) from samples').fetchone()[0])")
[ "$n_runs2" = "2 6" ] && ok || bad "re-run adds nothing: $n_runs2"

# sampling: 2 samples per item at temperature 0.8 (per-sample rows; pass@1 from the unbiased estimator)
"$SQZ" eval $M --tasks humaneval --limit 2 --n-samples 2 --temp 0.8 --seed 5 -t 1 --json > "$TMP/s.json" 2> "$TMP/err" || bad "sampling: $(cat "$TMP/err")"
[ "$(jq_ "$TMP/s.json" "len(d['tasks'][0]['samples']), d['tasks'][0]['signature']['sampling']['n'], d['tasks'][0]['metrics']['prompts_truncated']")" = "4 2 2.0" ] && ok || bad "2 x 2 samples, prompts left-truncated to the 128-token context"
"$SQZ" eval $M --tasks humaneval --limit 2 --n-samples 2 --temp 0.8 --seed 5 -t 1 --json > "$TMP/s2.json" 2>/dev/null
[ "$(jq_ "$TMP/s.json" "[x['generated'] for x in d['tasks'][0]['samples']]")" = "$(jq_ "$TMP/s2.json" "[x['generated'] for x in d['tasks'][0]['samples']]")" ] && ok || bad "same seed, same samples"
"$SQZ" eval $M --tasks humaneval --limit 1 --n-samples 2 -t 1 > /dev/null 2> "$TMP/err"; [ $? -eq 1 ] && grep -q "temperature" "$TMP/err" && ok || bad "samples without temperature"

# a variant written by sqz compress: recipe, source model and bits/weight come from its manifest
"$SQZ" compress $M --recipe 'rtn:bits=4,group=0' -o "$TMP/var" -t 1 > /dev/null 2> "$TMP/err" || bad "compress: $(cat "$TMP/err")"
"$SQZ" eval "$TMP/var" --tasks perplexity --limit 2 -t 1 --db "$TMP/r.db" --out "$TMP/var.json" > /dev/null 2> "$TMP/err" || bad "eval variant: $(cat "$TMP/err")"
[ "$(jq_ "$TMP/var.json" "d['recipe'], d['source_sha256'] == d['tasks'][0]['signature']['model_sha256'] != d['model_sha256'] == d['tasks'][0]['signature']['variant_sha256'], round(d['bits_per_weight'], 3)")" = "rtn:bits=4,group=0,sym=1 True 4.629" ] && ok || bad "variant identity: $(jq_ "$TMP/var.json" "d['recipe'], d['source_sha256'], d['bits_per_weight']")"
[ "$("$PY" -c "import sqlite3; c=sqlite3.connect('$TMP/r.db'); print(c.execute(\"select count(*) from models\").fetchone()[0], c.execute(\"select recipe from variants order by id\").fetchall())")" = "1 [('none',), ('rtn:bits=4,group=0,sym=1',)]" ] && ok || bad "variant filed under its source model"

# sqz eval's sampler and sandbox settings: a tiny nucleus at a high temperature is greedy decoding;
# top_p, top_k and the timeout are in the signature
"$SQZ" eval $M --tasks humaneval --limit 2 --max-tokens 12 -t 1 --json > "$TMP/g.json" 2> "$TMP/err" || bad "greedy: $(cat "$TMP/err")"
"$SQZ" eval $M --tasks humaneval --limit 2 --max-tokens 12 -t 1 --temp 1.5 --top-p 0.001 --top-k 40 --timeout 4 --json > "$TMP/p.json" 2> "$TMP/err" || bad "top-p: $(cat "$TMP/err")"
[ "$(jq_ "$TMP/g.json" "[x['generated'] for x in d['tasks'][0]['samples']]")" = "$(jq_ "$TMP/p.json" "[x['generated'] for x in d['tasks'][0]['samples']]")" ] && ok || bad "--top-p 0.001 = greedy"
[ "$(jq_ "$TMP/p.json" "d['tasks'][0]['signature']['sampling']['top_p'], d['tasks'][0]['signature']['sampling']['top_k'], d['tasks'][0]['signature']['metric']['timeout_s']")" = "0.001 40 4.0" ] && ok || bad "top_p, top_k, timeout in the eval signature"
[ "$(jq_ "$TMP/g.json" "'top_k' in d['tasks'][0]['signature']['sampling'], 'timeout_s' in d['tasks'][0]['signature']['metric'], d['tasks'][0]['signature']['sampling']['top_p']")" = "False False 1.0" ] && ok || bad "defaults leave the greedy signature as before"
"$SQZ" eval $M --tasks humaneval --limit 1 -t 1 --temp 1 --top-p 2 > /dev/null 2> "$TMP/err"; [ $? -eq 1 ] && grep -q "top_p 2" "$TMP/err" && ok || bad "--top-p 2: $(cat "$TMP/err")"

# sqz sweep: per-task limits, and the sampling and sandbox settings reach the evaluation and the
# cell's signature (a changed top_p or timeout makes a new cell; the unchanged perplexity cell is
# skipped). sweep_cfg TIMEOUT SAMPLING
sweep_cfg() { cat > "$TMP/sw.yaml" <<EOF
db: sw.db
seed: 3
data_dir: $PWD/../shared/data/datasets
limits: {items: 3, max_tokens: 12}
models: [{path: $PWD/$M, name: aidreams}]
recipes: [none]
tasks: [{name: humaneval, limit: 2, timeout_s: $1}, {name: perplexity, limit: 1}]
sampling: $2
EOF
}
sweep_() { "$SQZ" sweep "$TMP/sw.yaml" -t 1 > "$TMP/sw.out" 2> "$TMP/err" || bad "sweep $1: $(cat "$TMP/err")"; }
sq() { "$PY" -c "import sqlite3,sys; c=sqlite3.connect('$TMP/sw.db'); print('\n'.join(' '.join(map(str, r)) for r in c.execute(sys.argv[1])))" "$1"; }
he_sig() { sq "select signature from runs where task='humaneval' order by id desc limit 1"; }
he_gen() { sq "select generated from samples where run_id = (select max(id) from runs where task = 'humaneval') order by sample_index"; }
sweep_cfg 5 "{temperature: 0}"
sweep_ greedy
[ "$(sq "select task, count(*) from samples s join runs r on r.id = s.run_id group by task order by task")" = "humaneval 2" ] && ok || bad "humaneval limit 2 from its task entry"
[ "$(sq "select task, json_extract(signature, '\$.limit') from runs order by task")" = "$(printf 'humaneval 2\nperplexity 1')" ] && ok || bad "per-task limits in the signatures"
[ "$(sq "select m.value from metrics m join runs r on r.id = m.run_id where r.task = 'perplexity' and m.name = 'n_chunks'")" = 1.0 ] && ok || bad "perplexity over 1 chunk"
[ "$(he_sig | "$PY" -c "import json,sys; s=json.load(sys.stdin); print(s['metric']['timeout_s'], s['sampling']['top_p'], s['sampling']['max_tokens'])")" = "5.0 1.0 12" ] && ok || bad "timeout, top_p, max_tokens in the signature: $(he_sig)"
greedy=$(he_gen)
# top_p 0.001 at temperature 1.5 keeps only the most likely token: the greedy text, in a new cell
sweep_cfg 5 "{temperature: 1.5, top_p: 0.001}"
sweep_ top_p
[ "$(sq "select count(*) from runs where task = 'humaneval' and status = 'done'") $(sq "select count(*) from runs where task = 'perplexity'")" = "2 1" ] && ok || bad "top_p: a new humaneval cell, perplexity reused"
[ "$(he_gen)" = "$greedy" ] && ok || bad "top_p reaches the sampler (tiny nucleus = greedy)"
[ "$(he_sig | "$PY" -c "import json,sys; s=json.load(sys.stdin); print(s['sampling']['top_p'], s['sampling']['temperature'])")" = "0.001 1.5" ] && ok || bad "top_p in the signature: $(he_sig)"
# a full nucleus at that temperature samples other text
sweep_cfg 5 "{temperature: 1.5, top_p: 1}"
sweep_ top_p_1
[ "$(he_gen)" != "$greedy" ] && ok || bad "top_p 1 at temperature 1.5 samples"
sweep_cfg 7 "{temperature: 1.5, top_p: 1}"
sweep_ timeout
[ "$(sq "select count(*) from runs where task = 'humaneval' and status = 'done'") $(sq "select count(*) from runs where task = 'perplexity'")" = "4 1" ] && ok || bad "timeout: a new humaneval cell"
sweep_ again
[ "$(sq "select count(*) from runs")" = 5 ] && ok || bad "the same settings again: nothing new ($(cat "$TMP/sw.out"))"
sweep_cfg 0 "{temperature: 0}"
"$SQZ" sweep "$TMP/sw.yaml" --check > /dev/null 2> "$TMP/err"; [ $? -ne 0 ] && grep -q "sw.yaml:7:.*tasks\[0\].timeout_s: expected a number in 0.001..86400" "$TMP/err" && ok || bad "bad timeout_s: $(cat "$TMP/err")"
sweep_cfg 5 "{temperature: 0, n: 2}"
"$SQZ" sweep "$TMP/sw.yaml" --check > /dev/null 2> "$TMP/err"; [ $? -ne 0 ] && grep -q "sampling.n: 2 samples per item need sampling.temperature > 0" "$TMP/err" && ok || bad "n > 1 when greedy: $(cat "$TMP/err")"

# bad input
"$SQZ" eval $M --tasks nope -t 1 > /dev/null 2> "$TMP/err"; [ $? -eq 1 ] && grep -q "unknown task 'nope'" "$TMP/err" && ok || bad "unknown task: $(cat "$TMP/err")"
"$SQZ" eval $M > /dev/null 2> "$TMP/err"; [ $? -eq 2 ] && grep -q "required" "$TMP/err" && ok || bad "missing --tasks"
"$SQZ" eval $M --tasks divergence -t 1 > /dev/null 2> "$TMP/err"; [ $? -eq 1 ] && grep -q "kl-base" "$TMP/err" && ok || bad "divergence without baseline"
"$SQZ" eval $M --tasks divergence -t 1 --kl-base $TEXT > /dev/null 2> "$TMP/err"; [ $? -eq 1 ] && grep -q "bad magic" "$TMP/err" && ok || bad "bad baseline file"
"$SQZ" eval $M --tasks mbpp -t 1 > /dev/null 2> "$TMP/err"; [ $? -eq 1 ] && grep -q "not shipped" "$TMP/err" && ok || bad "mbpp without data"
"$SQZ" eval $M --tasks humaneval --limit x > /dev/null 2> "$TMP/err"; [ $? -eq 2 ] && ok || bad "bad --limit"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
