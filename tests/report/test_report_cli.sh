# sqz report on a synthetic database: the four files, their shape, and usage/input errors.
set -u
BIN=${SQZ_BIN:?SQZ_BIN not set}
BUILD=${SQZ_BUILD:?SQZ_BUILD not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $*" >&2; fi; }
has() { grep -qF -- "$2" "$1"; }

"$BUILD/tests/report_test_report" --make-db "$tmp/r.db"
ok test -s "$tmp/r.db"

"$BIN" report --db "$tmp/r.db" -o "$tmp/out" --title "CLI report" --resamples 500 >"$tmp/stdout" 2>"$tmp/stderr"
ok test $? -eq 0
ok has "$tmp/stdout" "wrote $tmp/out/results.csv"
for f in results.csv results.json report.md report.pdf; do ok test -s "$tmp/out/$f"; done
ok test "$(wc -l <"$tmp/out/results.csv")" -eq 26
ok has "$tmp/out/report.md" "# CLI report"
ok has "$tmp/out/report.md" "paired bootstrap over problems, 500 resamples"
pdfinfo "$tmp/out/report.pdf" >"$tmp/info"
ok has "$tmp/info" "Pages:           7"
pdftotext "$tmp/out/report.pdf" "$tmp/pdf.txt"
ok has "$tmp/pdf.txt" "Recommendation: which variant to deploy for which budget"

# Another baseline: q8 is then the reference (100 %).
"$BIN" report --db "$tmp/r.db" -o "$tmp/out2" --baseline q8 --price-per-hour 2 >/dev/null
ok test $? -eq 0
ok has "$tmp/out2/report.md" "- Baseline: q8"
ok has "$tmp/out2/report.md" "- Price per hour: 2"

# Errors: missing database (usage, 2), unknown baseline and unwritable output (1), no arguments (2).
"$BIN" report --db "$tmp/missing.db" -o "$tmp/x" 2>"$tmp/err"
ok test $? -eq 2
ok has "$tmp/err" "sqz report: $tmp/missing.db: no such results database"
ok test ! -e "$tmp/missing.db"
"$BIN" report --db "$tmp/r.db" -o "$tmp/x" --baseline nope 2>"$tmp/err"
ok test $? -eq 1
ok has "$tmp/err" "baseline variant 'nope' is not in the results"
"$BIN" report --db "$tmp/r.db" -o "$tmp/r.db/sub" 2>"$tmp/err"
ok test $? -eq 1
ok has "$tmp/err" "cannot create directory"
"$BIN" report 2>"$tmp/err"
ok test $? -eq 2
ok has "$tmp/err" "usage: sqz report"
"$BIN" report --db "$tmp/r.db" -o "$tmp/x" --resamples lots 2>"$tmp/err"
ok test $? -eq 2

echo "$pass passed, $fail failed"
test "$fail" -eq 0
