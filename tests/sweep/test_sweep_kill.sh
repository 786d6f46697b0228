#!/usr/bin/env bash
# Crash safety of sqz sweep: SIGKILL a sweep mid-way (after its first finished cell), re-run it,
# and check that every cell is done exactly once, the killed cell was redone from scratch, no
# sample row is lost or duplicated, and the numbers equal those of an uninterrupted sweep.
# Also: SIGINT stops after the current cell and the re-run finishes the rest.
set -uo pipefail
SQZ=${SQZ_BIN:-build/sqz}
ROOT=$PWD
T=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"; [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null; true' EXIT
pass=0 fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
q() { sqlite3 "$1" "$2"; }

config() {
    mkdir -p "$1"
    cat >"$1/sweep.yaml" <<EOF
db: results.db
seed: 3
data_dir: $ROOT/../shared/data/datasets
limits: {items: 6, max_tokens: 24}
models:
  - {path: $ROOT/../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf, name: aidreams}
recipes:
  - none
  - {name: int8, recipe: "rtn:bits=8"}
tasks: [perplexity, completion, divergence]
EOF
}
# Quality numbers of every cell (systems timings left out: they differ from run to run).
quality() { q "$1" "select v.name, r.task, r.signature_hash, r.n_samples, m.name, printf('%.17g', m.value) from runs r join variants v on v.id=r.variant_id join metrics m on m.run_id=r.id where r.status='done' and m.direction != 0 and m.name not like '%tok_s' and m.name not in ('load_s','peak_rss_mb') and m.name not like 'latency%' and m.name not like 'ttft%' order by 1, 2, 5"; }
samples() { q "$1" "select v.name, r.task, s.sample_index, s.item_id, s.generated from samples s join runs r on r.id=s.run_id join variants v on v.id=r.variant_id order by 1, 2, 3"; }

# ---- the reference: an uninterrupted sweep --------------------------------------------------------
config "$T/ref"
"$SQZ" sweep "$T/ref/sweep.yaml" >/dev/null 2>&1
check "reference sweep exits 0" "[ $? -eq 0 ]"

# ---- SIGKILL after the first finished cell -----------------------------------------------------
config "$T/k"
DB=$T/k/results.db
"$SQZ" sweep "$T/k/sweep.yaml" >"$T/k/out1" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ "$(q "$DB" "select count(*) from runs where status='done'" 2>/dev/null)" -ge 1 ] 2>/dev/null && break
    sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
done1=$(q "$DB" "select count(*) from runs where status='done'")
running=$(q "$DB" "select count(*) from runs where status='running'")
check "killed mid-way ($done1 of 6 done, $running running)" "[ $done1 -ge 1 ] && [ $done1 -lt 6 ]"
q "$DB" "select signature_hash from runs where status='running'" >"$T/k/killed"

"$SQZ" sweep "$T/k/sweep.yaml" >"$T/k/out2" 2>&1
check "re-run exits 0" "[ $? -eq 0 ]"
check "re-run skips the $done1 finished cells" "grep -q \"$((6 - done1)) run, $done1 already done\" $T/k/out2"
check "6 runs, all done" "[ \"\$(q $DB \"select count(*) from runs where status='done'\")\" = 6 ] && [ \"\$(q $DB 'select count(*) from runs')\" = 6 ]"
check "no duplicate cells" "[ -z \"\$(q $DB 'select variant_id, task from runs group by 1, 2 having count(*) > 1')\" ]"
check "no duplicate samples" "[ -z \"\$(q $DB 'select run_id, sample_index from samples group by 1, 2 having count(*) > 1')\" ]"
check "sample counts match the runs" "[ -z \"\$(q $DB 'select r.id from runs r left join samples s on s.run_id=r.id group by r.id having count(s.id) != r.n_samples')\" ]"
if [ -s "$T/k/killed" ]; then
    h=$(head -1 "$T/k/killed")
    check "the killed cell was redone (attempts 2)" "[ \"\$(q $DB \"select attempts from runs where signature_hash='$h'\")\" = 2 ]"
fi
quality "$T/ref/results.db" >"$T/qref"
quality "$DB" >"$T/qk"
check "numbers equal the uninterrupted sweep's" "[ -s $T/qref ] && cmp -s $T/qref $T/qk"
samples "$T/ref/results.db" >"$T/sref"
samples "$DB" >"$T/sk"
check "generated samples equal the uninterrupted sweep's" "[ -s $T/sref ] && cmp -s $T/sref $T/sk"

# ---- SIGINT: stop after the current cell, then finish --------------------------------------------
config "$T/i"
DB=$T/i/results.db
"$SQZ" sweep "$T/i/sweep.yaml" >"$T/i/out1" 2>"$T/i/err1" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(q "$DB" "select count(*) from runs" 2>/dev/null)" -ge 1 ] 2>/dev/null && break
    sleep 0.05
done
kill -INT "$pid"
wait "$pid"
rc=$?
pid=
check "SIGINT: exits 1 and says it stopped early" "[ $rc -eq 1 ] && grep -q 'stopped early' $T/i/out1"
check "SIGINT: no cell left running" "[ \"\$(q $DB \"select count(*) from runs where status != 'done'\")\" = 0 ]"
"$SQZ" sweep "$T/i/sweep.yaml" >/dev/null 2>&1
check "SIGINT: the re-run finishes" "[ $? -eq 0 ] && [ \"\$(q $DB \"select count(*) from runs where status='done'\")\" = 6 ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
