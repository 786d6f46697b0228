"""GGUFs written by `sqz compress` load in llama.cpp (PyPI llama-cpp-python) with the logits sqz computes.

For each recipe whose weights fit llama.cpp types (block steps, and integer weights with group 32 /
per-channel 8-bit that map onto Q4_0 / Q4_1 / Q8_0), compress the random-weight GQA Llama test
model, open OUT/model.gguf in llama.cpp (F32 K/V cache, flash attention off) and compare the
logits of every position with `sqz logits` on the same file. Also checks the tensor types the
GGUF declares (gguf-py reader) and the sqz.* keys.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sqz = os.environ.get("SQZ_BIN", "build/sqz")
MODEL = "build/test-models/llama-gqa"
LOGIT_TOL = 1e-4  # absolute; measured <= 1.5e-6 (both quantize activations to Q8 blocks the same way)
IDS = [1, 403, 407, 261, 378, 299, 284, 266, 77, 300, 301, 45, 10, 11, 500, 3]
CASES = [  # recipe, expected type of the linear weights in the GGUF
    ("q8_0", "Q8_0"),
    ("q4_0", "Q4_0"),
    ("q4_1", "Q4_1"),
    ("gptq:bits=4,group=32", "Q4_0"),
    ("awq:bits=4,group=32", "Q4_1"),
    ("rtn:bits=8,group=0", "Q8_0"),
]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, skip, summary  # noqa: E402
if not os.path.isdir(MODEL):
    skip(f"{MODEL} not built (scripts/setup.sh)")

import llama_cpp  # noqa: E402
from gguf import GGUFReader  # noqa: E402


for recipe, want in CASES:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "v")
        subprocess.run([sqz, "compress", MODEL, "--recipe", recipe, "-o", out, "--calib-n", "8", "--calib-len", "64",
                        "-t", "1", "--formats", "gguf"], check=True, capture_output=True)
        path = os.path.join(out, "model.gguf")
        check(os.path.exists(path), f"{recipe}: no model.gguf")
        if not os.path.exists(path):
            continue
        r = GGUFReader(path)
        types = {t.name: t.tensor_type.name for t in r.tensors}
        check(types.get("blk.0.attn_q.weight") == want and types.get("blk.1.ffn_down.weight") == want,
              f"{recipe}: tensor types {types.get('blk.0.attn_q.weight')}, {types.get('blk.1.ffn_down.weight')}")
        check("sqz.recipe" in r.fields and "sqz.source_sha256" in r.fields, f"{recipe}: sqz.* keys missing")
        llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_batch=64, logits_all=True, n_threads=1, type_k=0,
                              type_v=0, flash_attn=False, verbose=False)
        llm.eval(IDS)
        ref = np.array(llm.scores[: len(IDS)], dtype=np.float32)
        lbin = os.path.join(d, "l.bin")
        subprocess.run([sqz, "logits", path, "--ids", " ".join(map(str, IDS)), "--out", lbin, "-t", "1"], check=True,
                       capture_output=True)
        got = np.fromfile(lbin, dtype="<f4").reshape(len(IDS), -1)
        diff = float(np.max(np.abs(got - ref)))
        agree = float(np.mean(np.argmax(got, 1) == np.argmax(ref, 1)))
        print(f"{recipe:28s} {want}: max|dlogit| {diff:.2e} (logit range ±{np.max(np.abs(ref)):.2f}), top-1 agreement {agree:.2f}")
        check(diff <= LOGIT_TOL, f"{recipe}: max |dlogit| {diff:.3g} > {LOGIT_TOL}")
        del llm

sys.exit(summary())
