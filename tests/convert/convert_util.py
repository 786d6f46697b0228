"""Helpers shared by the tests in tests/convert (not a test itself).

Every test runs from the project root with SQZ_BIN (the sqz program) and SQZ_VENV_PY set by CTest.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
SQZ = os.environ.get("SQZ_BIN", os.path.join(ROOT, "build", "sqz"))
REFS = os.path.join(ROOT, "..", "shared", "refs", "models")
TEST_MODELS = os.path.join(ROOT, "build", "test-models")
PY = sys.executable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, finish as summary  # noqa: E402,F401 (re-exported to the tests)


def tmpdir():
    return tempfile.mkdtemp(prefix="sqz-convert-test-")


def sqz(*args, expect=0):
    r = subprocess.run([SQZ, *args], capture_output=True, text=True)
    if expect is not None and r.returncode != expect:
        print(f"sqz {' '.join(args)} -> exit {r.returncode}\n{r.stderr}", flush=True)
    return r


def make_test_models():
    subprocess.run([PY, os.path.join(ROOT, "scripts", "make_test_models.py")], check=True, capture_output=True)
    return sorted(n for n in os.listdir(TEST_MODELS) if os.path.exists(os.path.join(TEST_MODELS, n, "reference.json")))


def load_ref(path):
    with open(path) as f:
        return json.load(f)


def llamacpp_logits(path, ids, n_ctx=256):
    """All-position logits from libllama: whole prompt in one decode, F32 K/V cache, flash attention off."""
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=2, n_batch=512, logits_all=True, verbose=False,
                          type_k=0, type_v=0, flash_attn=False, seed=0)
    llm.reset()
    llm.eval(ids)
    out = np.array(llm.scores[:len(ids)], dtype=np.float64)
    del llm
    return out


def hf_logits(model_dir, ids):
    import torch
    import transformers
    m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        return m(torch.tensor([ids])).logits[0].double().numpy()


def gguf_tensors(path):
    """name -> (ggml type name, shape, raw bytes) of a GGUF (via gguf-py)."""
    import gguf
    r = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type.name, tuple(int(x) for x in t.shape), bytes(np.asarray(t.data).tobytes()))
            for t in r.tensors}


def gguf_fields(path):
    import gguf
    r = gguf.GGUFReader(path)
    out = {}
    for k, f in r.fields.items():
        vals = [f.parts[i] for i in f.data]
        if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
            if f.types[-1] == gguf.GGUFValueType.STRING:
                out[k] = [bytes(v) for v in vals]
            else:
                out[k] = [v.tolist()[0] for v in vals]
        elif f.types and f.types[0] == gguf.GGUFValueType.STRING:
            out[k] = bytes(vals[0]).decode("utf-8", "replace")
        elif vals:
            out[k] = vals[0].tolist()[0]
    return out


def safetensors_dict(path):
    from safetensors.numpy import load_file
    return load_file(path)


def sqz_logits(model, ids):
    """sqz's logits [n_tokens][n_vocab], or None when this build has no `sqz logits`."""
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        r = subprocess.run([SQZ, "logits", model, "--ids", " ".join(map(str, ids)), "--out", f.name],
                           capture_output=True, text=True)
        if "not available in this build" in r.stderr:
            return None
        if r.returncode != 0:
            raise RuntimeError(f"sqz logits {model}: exit {r.returncode}: {r.stderr}")
        return np.fromfile(f.name, dtype="<f4").astype(np.float64).reshape(len(ids), -1)
