#!/usr/bin/env bash
# sqz sweep end to end on the tiny real model (aidreams260K): 2 variants (baseline, int8 RTN) x
# 2 tasks (perplexity, divergence) with tiny limits → database rows, CSV/JSON, PDF pages; a re-run
# skips every cell and changes nothing; a fresh sweep gives identical numbers and signatures;
# a changed setting makes new cells whose signatures say what changed; bad configs fail before
# any work.
set -uo pipefail
SQZ=${SQZ_BIN:-build/sqz}
ROOT=$PWD
T=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT; echo "tmp: $T"
pass=0 fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
q() { sqlite3 "$1" "$2"; }

MODEL=$ROOT/../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf
DATA=$ROOT/../shared/data/datasets
# config DIR [extra yaml lines...]: a tiny sweep config writing into DIR
config() {
    local dir=$1
    shift
    mkdir -p "$dir"
    cat >"$dir/sweep.yaml" <<EOF
db: results.db
seed: 7
data_dir: $DATA
limits: {items: 2, max_tokens: 16}
models:
  - {path: $MODEL, name: aidreams}
recipes:
  - none
  - {name: int8, recipe: "rtn:bits=8"}
tasks: [perplexity, divergence]
EOF
    for line in "$@"; do printf '%s\n' "$line" >>"$dir/sweep.yaml"; done
}

# ---- a sweep, its rows and its report ---------------------------------------------------------
config "$T/a"
"$SQZ" sweep "$T/a/sweep.yaml" --report "$T/a/report" >"$T/a/out" 2>"$T/a/err"
check "sweep exits 0" "[ $? -eq 0 ]"
DB=$T/a/results.db
check "4 runs, all done" "[ \"\$(q $DB \"select count(*) from runs where status='done'\")\" = 4 ] && [ \"\$(q $DB 'select count(*) from runs')\" = 4 ]"
check "2 variants, 1 model" "[ \"\$(q $DB 'select count(*) from variants')\" = 2 ] && [ \"\$(q $DB 'select count(*) from models')\" = 1 ]"
check "one run per variant x task" "[ -z \"\$(q $DB 'select variant_id, task from runs group by variant_id, task having count(*) > 1')\" ]"
check "each run has one primary metric" "[ \"\$(q $DB 'select count(*) from metrics where is_primary = 1')\" = 4 ] && [ \"\$(q $DB 'select count(distinct run_id) from metrics where is_primary = 1')\" = 4 ]"
check "baseline KL to itself is 0" "[ \"\$(q $DB \"select m.value from metrics m join runs r on r.id=m.run_id join variants v on v.id=r.variant_id where v.recipe='none' and m.name='kld_mean'\")\" = 0.0 ]"
check "int8 KL is small and positive" "q $DB \"select m.value from metrics m join runs r on r.id=m.run_id join variants v on v.id=r.variant_id where v.name='int8' and m.name='kld_mean'\" | awk '{exit !(\$1 > 0 && \$1 < 0.05)}'"
check "variant folder with manifest" "[ -f $T/a/variants/aidreams/int8/manifest.json ]"
check "progress and ETA on stderr" "grep -q 'cells' $T/a/err && grep -q 'ETA' $T/a/err"
check "prints where the report is" "grep -q \"report: $T/a/report/report.pdf\" $T/a/out"

CSV=$T/a/report/results.csv
check "CSV has both variants x both tasks" "[ \"\$(python3 -c \"import csv,sys; print(' '.join(sorted(r['variant'] + '/' + r['task'] for r in csv.DictReader(open('$CSV')) if r['primary'] == '1')))\")\" = 'full/divergence full/perplexity int8/divergence int8/perplexity' ]"
cat >"$T/csvdb.py" <<'PY'
import csv, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
want = {(v, t, m): x for v, t, m, x in db.execute(
    "select v.name, r.task, m.name, m.value from metrics m join runs r on r.id=m.run_id join variants v on v.id=r.variant_id")}
got = {(r['variant'], r['task'], r['metric']): r['value'] for r in csv.DictReader(open(sys.argv[1]))}
assert set(got) == set(want), (sorted(set(got) ^ set(want)))[:5]
for k, x in want.items():
    y = got[k]
    assert (x is None and y in ('', 'nan', 'NaN')) or abs(float(y) - x) <= 1e-6 * max(1.0, abs(x)), (k, x, y)
PY
check "CSV values equal the database's" "python3 $T/csvdb.py $CSV $DB"
check "JSON parses, names the baseline and both variants" "python3 -c \"
import json, sys
d = json.load(open('$T/a/report/results.json'))
names = sorted(v['name'] for v in d['variants'])
sys.exit(0 if d['baseline'] == 'full' and names == ['full', 'int8'] and len(d['results']) >= 4 else 1)\""
# PDF: title, two Pareto pages, ceil(charts / 4) metric pages (one chart per task x metric with a
# direction), latency, recommendation.
charts=$(python3 -c "import csv; print(len({(r['task'], r['metric']) for r in csv.DictReader(open('$CSV')) if r['direction'] in ('min', 'max')}))")
want=$((5 + (charts + 3) / 4))
got=$(pdfinfo "$T/a/report/report.pdf" | awk '/^Pages:/ {print $2}')
check "PDF has $want pages ($charts charts), got $got" "[ '$got' = '$want' ]"
check "PDF page 2 is the size Pareto" "pdftotext -f 2 -l 2 $T/a/report/report.pdf - | grep -q 'Pareto: quality vs size'"
check "PDF last page recommends" "pdftotext -f $want -l $want $T/a/report/report.pdf - | grep -qi 'recommend\|success test'"

# ---- re-run: every cell skipped, nothing changed ------------------------------------------------
dump() { q "$1" "select r.signature_hash, r.status, r.attempts, m.name, printf('%.17g', m.value) from runs r join metrics m on m.run_id=r.id order by 1, 4"; }
dump "$DB" >"$T/a/dump1"
"$SQZ" sweep "$T/a/sweep.yaml" >"$T/a/out2" 2>&1
check "re-run exits 0" "[ $? -eq 0 ]"
check "re-run skips all 4 cells" "grep -q '0 run, 4 already done' $T/a/out2"
check "re-run reuses the variant" "grep -q '0 variants compressed, 1 reused' $T/a/out2"
dump "$DB" >"$T/a/dump2"
check "re-run leaves rows unchanged" "cmp -s $T/a/dump1 $T/a/dump2"

# ---- reproducible: a fresh sweep (fresh compression) gives identical numbers and signatures ------
config "$T/b"
"$SQZ" sweep "$T/b/sweep.yaml" >/dev/null 2>&1
check "fresh sweep exits 0" "[ $? -eq 0 ]"
quality() { q "$1" "select v.name, r.task, r.signature_hash, m.name, printf('%.17g', m.value) from runs r join variants v on v.id=r.variant_id join metrics m on m.run_id=r.id where m.direction != 0 and m.name not like '%tok_s' and m.name not in ('load_s','peak_rss_mb') order by 1, 2, 4"; }
quality "$DB" >"$T/qa"
quality "$T/b/results.db" >"$T/qb"
check "same quality numbers and signature hashes" "[ -s $T/qa ] && cmp -s $T/qa $T/qb"

# ---- a changed setting: new cells, and the signature diff says why ----------------------------
sed -i 's/seed: 7/seed: 8/' "$T/b/sweep.yaml"
"$SQZ" sweep "$T/b/sweep.yaml" >"$T/b/out3" 2>&1
check "changed seed runs 4 new cells" "grep -q '4 run, 0 already done' $T/b/out3 && [ \"\$(q $T/b/results.db 'select count(*) from runs')\" = 8 ]"
check "signatures differ only in the seed" "[ \"\$(q $T/b/results.db \"select json_extract(signature, '\$.seed') from runs where task='perplexity' order by id\" | sort -u | tr '\n' ' ')\" = '7 8 ' ]"

# ---- a pruned variant is evaluated from the checkpoint that stores it sparse --------------------
# hf/ holds the 2:4 linears in sqz's compressed layout (run by the sparse kernels); model.gguf the same
# weights dense with zeros. The sweep must load hf/, or the variant saves neither bytes nor time.
mkdir -p "$T/sp" && sed 's|rtn:bits=8|wanda:pattern=2:4|; s|divergence|perplexity|; s|\[perplexity, perplexity\]|[perplexity]|' \
    "$T/a/sweep.yaml" >"$T/sp/sweep.yaml"
"$SQZ" sweep "$T/sp/sweep.yaml" >"$T/sp/out" 2>&1
check "2:4 variant evaluated from its sparse hf/" "[ -f $T/sp/variants/aidreams/int8/model.gguf ] && [ \"\$(q $T/sp/results.db \"select path from variants where recipe like 'wanda%'\")\" = $T/sp/variants/aidreams/int8/hf ]"

# ---- bad configs: clear error before any work, nothing written ---------------------------------
badcase() { # name, expected message (grep -E), sed expression on the config
    rm -rf "$T/bad" && config "$T/bad"
    sed -i "$3" "$T/bad/sweep.yaml"
    "$SQZ" sweep "$T/bad/sweep.yaml" >"$T/bad/out" 2>&1
    local rc=$?
    if [ $rc -eq 1 ] && grep -qE "$2" "$T/bad/out" && [ ! -e "$T/bad/results.db" ] && [ ! -e "$T/bad/variants" ]; then
        ok "bad config: $1"
    else
        bad "bad config: $1 (rc $rc: $(cat "$T/bad/out"))"
    fi
}
badcase "unknown task" "sweep.yaml:[0-9]+:[0-9]+: tasks\[1\]: unknown task 'divergance'" 's/divergence\]/divergance]/'
badcase "missing model" "models\[0\]: model file '.*nope.gguf' does not exist" "s|$MODEL|/nonexistent/nope.gguf|"
badcase "bad recipe" "recipes\[1\]: .*bits" 's/rtn:bits=8/rtn:bits=99/'
badcase "recipe does not fit the model" "recipes\[1\] 'rtn:bits=4,group=64': step 'rtn' needs widths divisible by 64, but 'blk.0.ffn_down.weight' of model 'aidreams' is 172 wide" 's/rtn:bits=8/rtn:bits=4,group=64/'
badcase "unwritable db (parent is a file)" "db: directory '.*/afile' does not exist" "s|db: results.db|db: $T/afile/results.db|; 1i # $(touch "$T/afile")"
badcase "db is a directory" "db: '.*' is not a writable file" "s|db: results.db|db: $T|"
badcase "missing data folder" "data_dir: '.*/no-data' is not a directory" "s|data_dir: .*|data_dir: $T/no-data|"
badcase "unset variable" "environment variable 'SQZ_NO_SUCH_VAR' is not set" 's|name: aidreams|name: ${SQZ_NO_SUCH_VAR}|'
rm -rf "$T/bad" && config "$T/bad"
"$SQZ" sweep "$T/bad/sweep.yaml" --db /proc/sqz-no-such-dir/r.db >"$T/bad/out" 2>&1
check "unwritable --db" "grep -q \"directory '/proc/sqz-no-such-dir' does not exist\" $T/bad/out && [ ! -e $T/bad/variants ]"
# --db replaces the config's database: the config's own (missing) folder is then not an error.
sed -i "s|db: results.db|db: $T/no-such-dir/results.db|" "$T/bad/sweep.yaml"
"$SQZ" sweep "$T/bad/sweep.yaml" --db "$T/bad/other.db" --check >"$T/bad/out" 2>&1
check "--db overrides a config db whose folder is missing" "grep -q 'ok, 4 cells' $T/bad/out"
"$SQZ" sweep "$T/a/sweep.yaml" --check >"$T/chk" 2>&1
check "--check counts the cells" "grep -q 'ok, 4 cells' $T/chk"
# The shipped configs parse and check (when their database folders exist: build/ after a build,
# build/main-job/ after scripts/demo.sh; the default one also needs the real model).
if [ -d build ]; then
    "$SQZ" sweep configs/tiny.yaml --check >"$T/chk" 2>&1
    check "configs/tiny.yaml checks" "grep -q 'ok, 4 cells' $T/chk"
fi
if [ -d build/main-job ] && [ -f "${SQZ_MODELS:-$HOME/.cache/sqz/models}/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    "$SQZ" sweep configs/default.yaml --check >"$T/chk" 2>&1
    check "configs/default.yaml checks" "grep -q 'ok, 28 cells' $T/chk"
fi
"$SQZ" sweep >/dev/null 2>&1
check "no config is a usage error" "[ $? -eq 2 ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
