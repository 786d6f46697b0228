#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 clone: set up, build with warnings as errors,
# run every test, then build with AddressSanitizer + UndefinedBehaviorSanitizer and run the
# tests again (without the ones labelled "slow").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
JOBS="$(nproc)"

bash scripts/setup.sh

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

step "build (release, -Werror)"
cmake -S . -B build -DSQZ_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"

if [[ -f scripts/make_test_models.py ]]; then
  step "test models (transformers save_pretrained)"
  build/venv/bin/python scripts/make_test_models.py --out build/test-models
fi

step "tests"
ctest --test-dir build -j"$JOBS" --output-on-failure --timeout 1200

if [[ "${SQZ_SKIP_SANITIZE:-0}" != 1 ]]; then
  step "build (ASan + UBSan)"
  cmake -S . -B build-asan -DSQZ_WERROR=ON -DSQZ_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$JOBS"
  step "tests under ASan + UBSan (label 'slow' excluded)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -j"$JOBS" -LE slow --output-on-failure --timeout 1200
fi
