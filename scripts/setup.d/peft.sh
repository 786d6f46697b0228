#!/usr/bin/env bash
# PEFT for the LoRA adapter test (tests/train/test_lora_peft.py), installed WITHOUT dependencies:
# every peft release requires torch>=1.13.0, which Debian's python3-torch 1.13.0a0 (a pre-release
# version string) does not satisfy, so a plain `pip install peft` would pull a 500 MB CUDA torch 2.x
# into the venv. Its real dependencies (transformers, safetensors, huggingface_hub, psutil, pyyaml,
# tqdm) are already there; accelerate 0.27.2 is the last release that supports torch 1.13.
set -euo pipefail
want="peft==0.10.0 accelerate==0.27.2"
stamp="$VENV/.peft.stamp"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps $want
  echo "$want" > "$stamp"
fi
