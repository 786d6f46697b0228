#!/usr/bin/env bash
# Fetches the tree-sitter grammar sources CodeBLEU parses with (cmake/grammars.cmake compiles them):
# the PyPI sdists of the grammar packages, pinned to the same versions scripts/requirements-test.txt
# installs for the reference `codebleu` package, so both sides parse with identical grammars.
# All are ABI 14 (Debian's libtree-sitter 0.20.7 accepts ABI 13-14 only; tree-sitter-c 0.23.5+ is
# ABI 15, hence 0.23.4).
#
# The grammar sdists ship src/parser.c and src/scanner.c but not the src/tree_sitter/*.h headers
# their wheels are built with. Those headers (parser.h, alloc.h, array.h) are the tree-sitter core's
# lib/src copies, which the py-tree-sitter 0.22.3 sdist (the runtime `codebleu` uses) bundles; they
# go to build/deps/grammars/include/tree_sitter/.
#
# Layout: build/deps/grammars/<lang>/{parser.c,scanner.c,VERSION}. Idempotent: a language whose
# VERSION file matches is skipped.
set -euo pipefail
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
VENV="${VENV:-$ROOT/build/venv}"
DEST="$ROOT/build/deps/grammars"
log() { printf '\033[1mgrammars:\033[0m %s\n' "$*" >&2; }

GRAMMARS=(
  "python      tree-sitter-python     0.23.6"
  "java        tree-sitter-java       0.23.5"
  "c_sharp     tree-sitter-c-sharp    0.23.1"
  "c           tree-sitter-c          0.23.4"
  "cpp         tree-sitter-cpp        0.23.4"
  "javascript  tree-sitter-javascript 0.23.1"
)
CORE_PKG="tree-sitter"
CORE_VERSION="0.22.3"
CORE_LAYOUT=2 # bump when the extracted files change

PIP="$VENV/bin/pip"
[[ -x "$PIP" ]] || PIP="pip3"

# fetch_sdist <package> <version> <tmpdir>: download the sdist, extract it, print its top folder.
fetch_sdist() {
  local pkg="$1" ver="$2" tmp="$3"
  "$PIP" download -q --disable-pip-version-check --no-deps --no-binary :all: --no-build-isolation \
    -d "$tmp" "$pkg==$ver" >&2 2>/dev/null ||
    "$PIP" download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$tmp" "$pkg==$ver" >&2
  local tgz
  tgz="$(ls "$tmp"/*.tar.gz | head -n1)"
  tar -xzf "$tgz" -C "$tmp"
  ls -d "$tmp"/*/ | head -n1
}

mkdir -p "$DEST"
for row in "${GRAMMARS[@]}"; do
  read -r lang pkg ver <<<"$row"
  if [[ "$(cat "$DEST/$lang/VERSION" 2>/dev/null)" == "$pkg $ver" && -f "$DEST/$lang/parser.c" ]]; then
    continue
  fi
  log "fetching $pkg $ver (sdist) into $DEST/$lang"
  tmp="$(mktemp -d)"
  top="$(fetch_sdist "$pkg" "$ver" "$tmp")"
  rm -rf "$DEST/$lang"
  mkdir -p "$DEST/$lang"
  cp "$top/src/parser.c" "$DEST/$lang/parser.c"
  for s in scanner.c scanner.cc; do
    [[ -f "$top/src/$s" ]] && cp "$top/src/$s" "$DEST/$lang/$s"
  done
  grep -q "#define LANGUAGE_VERSION 14" "$DEST/$lang/parser.c" ||
    { log "$pkg $ver is not ABI 14"; exit 1; }
  echo "$pkg $ver" >"$DEST/$lang/VERSION"
  rm -rf "$tmp"
done

if [[ "$(cat "$DEST/include/VERSION" 2>/dev/null)" != "$CORE_PKG $CORE_VERSION $CORE_LAYOUT" ]]; then
  log "fetching tree_sitter/*.h from the $CORE_PKG $CORE_VERSION sdist"
  tmp="$(mktemp -d)"
  top="$(fetch_sdist "$CORE_PKG" "$CORE_VERSION" "$tmp")"
  rm -rf "$DEST/include"
  mkdir -p "$DEST/include/tree_sitter"
  for h in parser.h alloc.h array.h; do
    cp "$top/tree_sitter/core/lib/src/$h" "$DEST/include/tree_sitter/$h"
  done
  # The tree-sitter runtime itself (lib.c amalgamation), the one the reference's py-tree-sitter
  # embeds: error recovery differs from Debian's 0.20.7 on broken code (cmake/grammars.cmake).
  rm -rf "$DEST/core"
  mkdir -p "$DEST/core"
  cp -r "$top/tree_sitter/core/lib/src" "$top/tree_sitter/core/lib/include" "$DEST/core/"
  cp "$top/tree_sitter/core/LICENSE" "$DEST/core/" 2>/dev/null || true
  echo "$CORE_PKG $CORE_VERSION $CORE_LAYOUT" >"$DEST/include/VERSION"
  rm -rf "$tmp"
fi

# Keyword lists of the PyPI `codebleu` package (the weighted n-gram match weights these tokens 1,
# all others 0.2); cmake/grammars.cmake embeds them in the library.
CODEBLEU_VERSION="0.7.0"
KW="$ROOT/build/deps/codebleu"
if [[ "$(cat "$KW/VERSION" 2>/dev/null)" != "codebleu $CODEBLEU_VERSION" ]]; then
  log "fetching keyword lists from the codebleu $CODEBLEU_VERSION sdist"
  tmp="$(mktemp -d)"
  top="$(fetch_sdist codebleu "$CODEBLEU_VERSION" "$tmp")"
  rm -rf "$KW"
  mkdir -p "$KW/keywords"
  cp "$top"/codebleu/keywords/*.txt "$KW/keywords/"
  echo "codebleu $CODEBLEU_VERSION" >"$KW/VERSION"
  rm -rf "$tmp"
fi

# The reference side must parse with the same grammar: the tree-sitter-c-sharp 0.23.1 *wheel* on
# PyPI was regenerated as ABI 15 (py-tree-sitter 0.22 rejects it), so build the venv's copy from the
# same sdist as above, supplying the headers the sdist lacks.
if [[ -x "$VENV/bin/python" ]] && [[ "$(cat "$VENV/.tree_sitter_c_sharp" 2>/dev/null)" != "0.23.1 sdist" ]]; then
  log "building tree-sitter-c-sharp 0.23.1 for the test venv from its sdist"
  CFLAGS="-I$DEST/include -Dts_malloc=malloc -Dts_calloc=calloc -Dts_realloc=realloc -Dts_free=free" "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps \
    --no-binary tree-sitter-c-sharp --force-reinstall "tree-sitter-c-sharp==0.23.1"
  echo "0.23.1 sdist" >"$VENV/.tree_sitter_c_sharp"
fi
