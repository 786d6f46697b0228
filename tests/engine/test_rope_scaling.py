"""RoPE scaling (Llama 3 "llama3" rope_type): sqz vs independent references on the llama3-rope test model
(scripts/make_test_models.py: theta 5e5, factor 8, low/high freq factors 1/4, original context 64).

- HF directory: sqz logits vs reference.json (the generator's F32 forward with the scaled frequencies);
- the same model converted to GGUF by `sqz convert` (rope_freqs.weight factors): sqz vs reference.json;
- a 200-token sequence (positions far past the original 64) on the GGUF: sqz vs llama.cpp (libllama via
  llama-cpp-python, F32 K/V cache, flash attention off).
Tolerance 5e-4 absolute, as for the other F32 reference models (refs/README.md).
Skips (exit 0 with a note) when the test model has not been generated.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TOL = 5e-4
root = os.environ.get("SQZ_ROOT", os.getcwd())
sqz = os.environ.get("SQZ_BIN", "build/sqz")
model = os.path.join(root, "build", "test-models", "llama3-rope")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, skip, summary  # noqa: E402
if not os.path.exists(os.path.join(model, "reference.json")):
    skip(f"{model} not generated (scripts/make_test_models.py)")


def sqz_logits(path, ids, nv):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "l.bin")
        subprocess.run([sqz, "logits", path, "--ids", " ".join(map(str, ids)), "--out", out, "-t", "2", "-c", "256"],
                       check=True)
        return np.fromfile(out, dtype="<f4").reshape(len(ids), nv)


ref = json.load(open(os.path.join(model, "reference.json")))
nv = ref["n_vocab"]
with tempfile.TemporaryDirectory() as tmp:
    gguf = os.path.join(tmp, "llama3-rope.gguf")
    subprocess.run([sqz, "convert", model, "-o", gguf], check=True, capture_output=True)
    for what, path in (("HF", model), ("GGUF", gguf)):
        worst = max(float(np.abs(sqz_logits(path, c["prompt_ids"], nv) - np.array(c["logits"])).max())
                    for c in ref["cases"])
        print(f"{what}: max |sqz - reference| {worst:.2e} over {len(ref['cases'])} prompts")
        check(worst <= TOL, f"{what}: {worst:.2e} > {TOL}")
    # control: the same weights without rope_scaling must miss the reference (the scaling matters here)
    plain = os.path.join(tmp, "plain")
    os.mkdir(plain)
    for f in os.listdir(model):
        if f != "config.json":
            os.symlink(os.path.join(model, f), os.path.join(plain, f))
    cfg = json.load(open(os.path.join(model, "config.json")))
    del cfg["rope_scaling"]
    json.dump(cfg, open(os.path.join(plain, "config.json"), "w"))
    long_case = max(ref["cases"], key=lambda c: len(c["prompt_ids"]))
    off = float(np.abs(sqz_logits(plain, long_case["prompt_ids"], nv) - np.array(long_case["logits"])).max())
    print(f"control without rope_scaling: max diff {off:.2e} ({len(long_case['prompt_ids'])} tokens)")
    check(off > 100 * TOL, f"unscaled RoPE should differ from the reference, got {off:.2e}")
    import llama_cpp
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=256, n_threads=2, n_batch=512, logits_all=True, verbose=False,
                          type_k=0, type_v=0, flash_attn=False)
    ids = [int(x) for x in np.random.default_rng(0).integers(3, nv, 200)]
    llm.reset()
    llm.eval(ids)
    lc = np.array(llm.scores[:len(ids)], dtype=np.float32)
    d = np.abs(sqz_logits(gguf, ids, nv) - lc).max(1)
    print(f"200 tokens vs llama.cpp: max {d.max():.2e} (positions 0-63 {d[:64].max():.2e}, 64-199 {d[64:].max():.2e})")
    check(float(d.max()) <= TOL, f"200 tokens vs llama.cpp: {d.max():.2e} > {TOL}")
sys.exit(summary())
