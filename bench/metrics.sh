#!/usr/bin/env bash
# Metric speed on the 1,000-line CodeXGLUE test set (library calls, best of 3), then the same BLEU
# and chrF through the CLI (wall time including reading the files and process start).
set -euo pipefail
BUILD="${SQZ_BUILD:-build}"
D=../shared/data/datasets/codexglue-code2code-trans/data
"$BUILD/bench/metrics" "$D"
for m in bleu chrf; do
    s=$(date +%s.%N)
    "$BUILD/sqz" score --metric $m --hyp $D/test.java-cs.txt.java --ref $D/test.java-cs.txt.cs > /dev/null
    e=$(date +%s.%N)
    printf 'sqz score --metric %-5s %6.3f s (CLI wall)\n' $m "$(echo "$e - $s" | bc)"
done
