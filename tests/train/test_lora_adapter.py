"""Unmerged LoRA adapters in sqz's inference engine (`sqz logits/perplexity/generate --adapter DIR`):
base + adapter gives the logits of the merged model (≤ 1e-4) and PEFT's logits (≤ 5e-4, engine vs
PyTorch), for
- an HF Llama base (adapters on all seven projections, trained by `sqz train lora`),
- an F32 GGUF of it (q/k rows permuted by llama.cpp's convention: the adapter's B rows are permuted
  the same way), a Qwen2 GGUF (biases, no permutation),
- a Q8_0 GGUF base (exact path: dequantized weights + F32 adapter = `sqz train merge` of that base),
- an adapter made by PEFT itself with rsLoRA,
- GPT-2 with adapters on the fused c_attn (PEFT's Conv1D, fan_in_fan_out) and both c_proj and c_fc,
  HF and GGUF bases; PEFT-made GPT-2 adapters merged by `sqz train merge` give PEFT's logits.
Bad adapters (rank mismatch, unknown target, missing tensor) fail with a message naming the problem.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.numpy import load_file, save_file
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SQZ = os.environ.get("SQZ_BIN", os.path.join(ROOT, "build", "sqz"))
MODELS = os.path.join(ROOT, "build", "test-models")
CORPUS = os.path.join(ROOT, "..", "shared", "data", "datasets", "python-corpus", "cpython-3.11.2-stdlib-toplevel.tar")
IDS = [ord(c) for c in "def f(x):\n    return x * 2\n"]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def sqz(*args):
    return subprocess.run([SQZ, *args], capture_output=True, text=True)


def eng(model, adapter=None, exact=False):
    """sqz's logits [n][V] of model (+ adapter, unmerged)."""
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        args = ["logits", model, "--ids", " ".join(map(str, IDS)), "--out", f.name]
        args += ["--adapter", adapter] if adapter else []
        args += ["--exact"] if exact else []
        r = sqz(*args)
        if r.returncode != 0:
            raise RuntimeError(f"sqz {' '.join(args)}: {r.stderr}")
        return np.fromfile(f.name, dtype="<f4").astype(np.float64).reshape(len(IDS), -1)


def peft_logits(base, adapter):
    m = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32), adapter)
    with torch.no_grad():
        return m(input_ids=torch.tensor([IDS])).logits[0].double().numpy(), m


def close(a, b, tol, what):
    d = np.abs(a - b).max()
    print(f"{what}: max |dlogit| {d:.3g}")
    return check(d <= tol, f"{what}: {d} > {tol}")


def train(base, targets, out):
    r = sqz("train", "lora", "--base", base, "--tokenizer", "bytes", "--corpus", CORPUS, "--corpus-bytes", "100000",
            "--rank", "4", "--alpha", "8", "--targets", targets, "--steps", "12", "--lr", "1e-2", "--batch", "2",
            "--seq", "32", "--merge", "-o", out, "--quiet")
    return check(r.returncode == 0, f"train lora {base} {targets}: {r.stderr}")


def gguf(src, out, typ="f32"):
    return check(sqz("convert", src, "-o", out, "--type", typ).returncode == 0, f"convert {src} -> {typ}")


def llama(tmp):
    base = os.path.join(MODELS, "llama-gqa")
    ad = os.path.join(tmp, "llama-ad")
    if not train(base, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", ad):
        return
    merged = eng(os.path.join(ad, "merged"))
    un = eng(base, ad)
    check(np.abs(un - eng(base)).max() > 1e-2, "llama: the adapter changes the logits")
    close(un, merged, 1e-4, "llama HF base + adapter vs merged")
    lp, pm = peft_logits(base, ad)
    close(un, lp, 5e-4, "llama HF base + adapter vs PEFT")
    g = os.path.join(tmp, "llama.gguf")
    if gguf(base, g):
        close(eng(g, ad), merged, 1e-4, "llama F32 GGUF base + adapter vs merged")
    q8 = os.path.join(tmp, "llama-q8.gguf")
    mq = os.path.join(tmp, "llama-q8-merged")
    if gguf(base, q8, "q8_0") and check(sqz("train", "merge", "--base", q8, "--adapter", ad, "-o", mq).returncode == 0,
                                        "merge onto the Q8_0 base"):
        close(eng(q8, ad, exact=True), eng(mq), 1e-4, "llama Q8_0 GGUF base + adapter (exact) vs merged F32")
        d = np.abs(eng(q8, ad) - eng(mq)).max()  # the default path quantizes activations to 8 bits
        print(f"llama Q8_0 GGUF base + adapter (default kernels) vs merged F32: max |dlogit| {d:.3g}")
        check(d < 0.1, f"Q8_0 default path far from the merged model: {d}")
    # perplexity and generate take --adapter too (same numbers as the merged model)
    ids_file = os.path.join(tmp, "ids.txt")
    open(ids_file, "w").write(" ".join(str(i) for i in range(3, 200)))
    p1 = sqz("perplexity", base, "--adapter", ad, "--ids-file", ids_file, "-c", "64")
    p2 = sqz("perplexity", os.path.join(ad, "merged"), "--ids-file", ids_file, "-c", "64")
    # The adapter runs unmerged (x·Wᵀ + s·(x·Aᵀ)·Bᵀ), the merged model as one matrix: logits agree to ~1e-6,
    # so the printed perplexity and its ± agree to 1e-5 relative, not digit for digit.
    def ppl(r):
        m = re.search(r"^PPL = ([0-9.]+) \+/- ([0-9.]+)", r.stdout, re.M)
        return (float(m.group(1)), float(m.group(2))) if m else None
    a, b = ppl(p1), ppl(p2)
    check(p1.returncode == 0 and a is not None and b is not None and
          all(abs(x - y) <= 1e-5 * abs(y) for x, y in zip(a, b)), f"perplexity --adapter: {p1.stdout} {p1.stderr} / {p2.stdout}")
    g1 = sqz("generate", base, "--adapter", ad, "--prompt-ids", "1 100 101", "-n", "8", "--temp", "0", "--ids", "--ignore-eos")
    g2 = sqz("generate", os.path.join(ad, "merged"), "--prompt-ids", "1 100 101", "-n", "8", "--temp", "0", "--ids",
             "--ignore-eos")
    check(g1.returncode == 0 and g1.stdout == g2.stdout and g1.stdout.strip(), f"generate --adapter: {g1.stdout} {g1.stderr}")
    errors(base, ad, tmp)


def errors(base, ad, tmp):
    def bad(name, mutate, want):
        d = os.path.join(tmp, "bad-" + name)
        shutil.copytree(ad, d, ignore=shutil.ignore_patterns("merged", "checkpoint.bin"))
        mutate(d)
        r = sqz("logits", base, "--adapter", d, "--ids", "1 2 3")
        check(r.returncode == 1 and want in r.stderr, f"bad adapter ({name}): exit {r.returncode}: {r.stderr}")

    def set_r(d):
        c = json.load(open(os.path.join(d, "adapter_config.json")))
        c["r"] = 8
        json.dump(c, open(os.path.join(d, "adapter_config.json"), "w"))

    def edit_tensors(fn):
        def go(d):
            p = os.path.join(d, "adapter_model.safetensors")
            t = load_file(p)
            fn(t)
            save_file(t, p, metadata={"format": "pt"})
        return go

    def drop_b(t):
        del t["base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"]

    def add_head(t):
        t["base_model.model.lm_head.lora_A.weight"] = np.zeros((4, 64), np.float32)
        t["base_model.model.lm_head.lora_B.weight"] = np.zeros((512, 4), np.float32)

    def add_unknown(t):
        t["base_model.model.model.layers.0.mlp.act_fn.lora_A.weight"] = np.zeros((4, 64), np.float32)
        t["base_model.model.model.layers.0.mlp.act_fn.lora_B.weight"] = np.zeros((64, 4), np.float32)

    bad("rank", set_r, "rank mismatch")
    bad("missing", edit_tensors(drop_b), "missing tensor")
    bad("lm_head", edit_tensors(add_head), "unknown target")
    bad("module", edit_tensors(add_unknown), "unknown target module 'mlp.act_fn'")
    r = sqz("logits", base, "--adapter", tmp, "--ids", "1 2 3")
    check(r.returncode == 1 and "adapter_config.json" in r.stderr, f"no adapter directory: {r.stderr}")


def qwen2(tmp):
    base = os.path.join(MODELS, "qwen2")
    ad = os.path.join(tmp, "qwen2-ad")
    g = os.path.join(tmp, "qwen2.gguf")
    if train(base, "q_proj,k_proj,v_proj,o_proj,down_proj", ad) and gguf(base, g):
        merged = eng(os.path.join(ad, "merged"))
        close(eng(base, ad), merged, 1e-4, "qwen2 HF base + adapter vs merged")
        close(eng(g, ad), merged, 1e-4, "qwen2 F32 GGUF base + adapter vs merged")


def peft_made(tmp):
    base = os.path.join(MODELS, "llama-gqa-tied")
    torch.manual_seed(5)
    m = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    pm = get_peft_model(m, LoraConfig(r=3, lora_alpha=5, target_modules=["q_proj", "k_proj", "down_proj"],
                                      init_lora_weights=False, use_rslora=True, task_type="CAUSAL_LM"))
    with torch.no_grad():
        lp = pm(input_ids=torch.tensor([IDS])).logits[0].double().numpy()
    ad = os.path.join(tmp, "peft-llama")
    pm.save_pretrained(ad)
    close(eng(base, ad), lp, 5e-4, "PEFT-made rsLoRA adapter: sqz engine unmerged vs PEFT")
    g = os.path.join(tmp, "llama-tied.gguf")
    if gguf(base, g):
        close(eng(g, ad), lp, 5e-4, "PEFT-made rsLoRA adapter on the GGUF base vs PEFT")


def gpt2(tmp):
    base = os.path.join(MODELS, "gpt2")
    ad = os.path.join(tmp, "gpt2-ad")
    if not train(base, "c_attn,c_proj,c_fc", ad):
        return
    cfg = json.load(open(os.path.join(ad, "adapter_config.json")))
    check(cfg["fan_in_fan_out"] is True, "GPT-2 adapter_config fan_in_fan_out")
    lp, pm = peft_logits(base, ad)
    n = sum(1 for k, _ in pm.named_parameters() if "lora_" in k)
    check(n == 2 * 4 * pm.config.n_layer, f"gpt2: PEFT loaded {n} adapter tensors (c_attn, attn/mlp c_proj, c_fc)")
    check(np.abs(lp - eng(base)).max() > 1e-2, "gpt2: the adapter changes the logits")
    merged = os.path.join(ad, "merged")
    with torch.no_grad():
        lm = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32)(
            input_ids=torch.tensor([IDS])).logits[0].double().numpy()
    close(lm, lp, 1e-4, "gpt2: sqz-merged (transformers) vs PEFT")
    close(eng(base, ad), lp, 5e-4, "gpt2 HF base + adapter (engine) vs PEFT")
    g = os.path.join(tmp, "gpt2.gguf")
    if gguf(base, g):
        close(eng(g, ad), eng(merged), 1e-4, "gpt2 F32 GGUF base + adapter vs merged")
    # a PEFT-made GPT-2 adapter (random A and B) merged by `sqz train merge`
    torch.manual_seed(7)
    m = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    pm = get_peft_model(m, LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn", "c_fc"], init_lora_weights=False,
                                      fan_in_fan_out=True, task_type="CAUSAL_LM"))
    with torch.no_grad():
        lp = pm(input_ids=torch.tensor([IDS])).logits[0].double().numpy()
    pad = os.path.join(tmp, "peft-gpt2")
    pm.save_pretrained(pad)
    out = os.path.join(tmp, "peft-gpt2-merged")
    r = sqz("train", "merge", "--base", base, "--adapter", pad, "-o", out)
    if check(r.returncode == 0, f"sqz train merge (GPT-2): {r.stderr}"):
        close(eng(out), lp, 5e-4, "PEFT-made GPT-2 adapter: sqz merge vs PEFT")
    close(eng(base, pad), lp, 5e-4, "PEFT-made GPT-2 adapter: sqz engine unmerged vs PEFT")


def main():
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_test_models.py")], check=True,
                   capture_output=True)
    tmp = tempfile.mkdtemp()
    try:
        llama(tmp)
        qwen2(tmp)
        peft_made(tmp)
        gpt2(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
