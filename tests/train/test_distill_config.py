"""`sqz train distill --student CONFIG.json[:LAYERS]`: narrower students initialised from the teacher
by structured truncation (MLP channels and attention heads by activation-weighted scores, hidden size
by the SVD basis of the token embedding; see src/train/student.c), then distilled.
- A student with the teacher's own config reproduces the teacher exactly (the init is lossless when
  nothing is cut: tiny lr so training does not move it).
- Narrower students (fewer blocks, smaller hidden size, fewer heads and KV heads, fewer MLP channels;
  Llama untied and tied, Qwen2 with biases, GPT-2 with fewer blocks and channels): held-out KL to the
  teacher and loss go down with distillation; the output HF directory loads in transformers and
  sqz's engine (HF and GGUF) with equal logits.
- Bad configs (wider than the teacher, heads not dividing, another head size, a block list of the
  wrong length, GPT-2 with a smaller n_embd) fail with a clear message.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SQZ = os.environ.get("SQZ_BIN", os.path.join(ROOT, "build", "sqz"))
MODELS = os.path.join(ROOT, "build", "test-models")
CORPUS = os.path.join(ROOT, "..", "shared", "data", "datasets", "python-corpus", "cpython-3.11.2-stdlib-toplevel.tar")
IDS = [1] + [ord(c) for c in "class A:\n    pass\n"]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def torch_logits(d):
    m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    with torch.no_grad():
        return m(input_ids=torch.tensor([IDS])).logits[0].double().numpy()


def eng(model):
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        r = subprocess.run([SQZ, "logits", model, "--ids", " ".join(map(str, IDS)), "--out", f.name],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"sqz logits {model}: {r.stderr}")
        return np.fromfile(f.name, dtype="<f4").astype(np.float64).reshape(len(IDS), -1)


def student_cfg(teacher, tmp, name, **kw):
    c = json.load(open(os.path.join(teacher, "config.json")))
    c.update(kw)
    p = os.path.join(tmp, name + ".json")
    json.dump(c, open(p, "w"))
    return p


def distill(teacher, spec, out, steps=40, lr="3e-3"):
    return subprocess.run([SQZ, "train", "distill", "--teacher", teacher, "--student", spec, "--tokenizer", "bytes",
                           "--corpus", CORPUS, "--corpus-bytes", "300000", "-o", out, "--steps", str(steps), "--lr", lr,
                           "--warmup", "2", "--batch", "4", "--seq", "32", "--tau", "2", "--kl-weight", "0.9",
                           "--eval-batches", "4", "--quiet"], capture_output=True, text=True)


def narrow(name, teacher, tmp, **kw):
    out = os.path.join(tmp, name)
    r = distill(teacher, student_cfg(teacher, tmp, name, **kw), out)
    if not check(r.returncode == 0, f"{name}: distill: {r.stderr}"):
        return
    m = re.search(r"held-out loss ([0-9.]+) -> ([0-9.]+).*KL to teacher ([0-9.]+) -> ([0-9.]+)", r.stdout)
    if not check(m is not None, f"{name}: no result line: {r.stdout}"):
        return
    ce0, ce1, kl0, kl1 = map(float, m.groups())
    print(f"{name}: held-out loss {ce0:.4f} -> {ce1:.4f}, KL to teacher {kl0:.4f} -> {kl1:.4f}")
    check(kl1 < kl0 and ce1 < ce0, f"{name}: distillation did not lower KL/loss")
    cfg = json.load(open(os.path.join(out, "config.json")))
    for k, v in kw.items():
        check(cfg[k] == v, f"{name}: config.json {k} = {cfg[k]}, expected {v}")
    lt = torch_logits(out)
    d = np.abs(eng(out) - lt).max()
    dg = np.abs(eng(os.path.join(out, "model.gguf")) - lt).max()
    print(f"{name}: engine vs transformers max |dlogit| HF {d:.3g}, GGUF {dg:.3g}")
    check(d < 5e-4 and dg < 5e-4, f"{name}: engine logits differ from transformers ({d}, {dg})")


def identity(tmp):
    teacher = os.path.join(MODELS, "qwen2")
    out = os.path.join(tmp, "identity")
    r = distill(teacher, student_cfg(teacher, tmp, "identity"), out, steps=1, lr="1e-30")
    if check(r.returncode == 0, f"identity student: {r.stderr}"):
        d = np.abs(torch_logits(out) - torch_logits(teacher)).max()
        print(f"student with the teacher's config vs teacher: max |dlogit| {d:.3g}")
        check(d < 1e-5, f"identity student differs from the teacher by {d}")


def errors(tmp):
    llama = os.path.join(MODELS, "llama-gqa")
    cases = [
        (llama, dict(intermediate_size=256), "intermediate_size 256 is larger than the teacher's 128"),
        (llama, dict(hidden_size=96, num_attention_heads=6), "hidden_size 96 is larger"),
        (llama, dict(num_attention_heads=3, num_key_value_heads=2), "not a multiple of the kv head count"),
        (llama, dict(hidden_size=48), "head dimension 12"),
        (llama, dict(num_attention_heads=4, num_key_value_heads=1), "4 query heads per KV head"),
        (llama, dict(num_hidden_layers=3), "num_hidden_layers 3 is larger"),
        (os.path.join(MODELS, "gpt2"), dict(n_embd=48, n_head=3), "GPT-2 student keeps the teacher's n_embd"),
    ]
    for i, (teacher, kw, want) in enumerate(cases):
        r = distill(teacher, student_cfg(teacher, tmp, f"bad{i}", **kw), os.path.join(tmp, "x"), steps=1)
        check(r.returncode == 1 and want in r.stderr, f"bad student {kw}: exit {r.returncode}: {r.stderr}")
    r = distill(llama, student_cfg(llama, tmp, "one", num_hidden_layers=1) + ":0,1", os.path.join(tmp, "x"), steps=1)
    check(r.returncode == 1 and "2 blocks listed" in r.stderr, f"block list of the wrong length: {r.stderr}")


def main():
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_test_models.py")], check=True,
                   capture_output=True)
    tmp = tempfile.mkdtemp()
    identity(tmp)
    small = dict(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=96)
    narrow("llama-untied", os.path.join(MODELS, "llama-gqa"), tmp, **small)
    narrow("llama-tied", os.path.join(MODELS, "llama-gqa-tied"), tmp, **small)
    narrow("qwen2-heads", os.path.join(MODELS, "qwen2"), tmp, hidden_size=32, num_attention_heads=2,
           num_key_value_heads=1, intermediate_size=64)
    narrow("gpt2", os.path.join(MODELS, "gpt2-untied"), tmp, n_layer=1, n_inner=96)
    errors(tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
