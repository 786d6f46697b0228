"""Structured pruning of real HF model directories (the random test models of every Llama-family
architecture): sqz_prune_structured drops blocks, KV groups with their query heads, and MLP
channels. The reference is the *original* model run by transformers with the dropped structures
zeroed — o_proj columns of dropped heads, down_proj columns of dropped channels, and o_proj +
down_proj of dropped blocks (which makes a pre-norm block the identity) — which computes exactly
the function the smaller model must compute. The pruned model is run by transformers (when the head
count is unchanged: transformers 4.40 derives head_dim from hidden_size/heads) and, exported to
GGUF, by llama.cpp (any head count). Driver: build/tests/prune_test_tool structured."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
BUILD = os.environ.get("SQZ_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "prune_test_tool")
MODELS = os.path.join(ROOT, "build", "test-models")
TOL = 5e-4
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double().numpy()


def reference_logits(model_dir, cfg, keep_layer, keep_group, keep_ff, ids):
    import transformers
    m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", cfg["hidden_size"] // nh)
    per = nh // nkv
    with torch.no_grad():
        for l, layer in enumerate(m.model.layers):
            o, down = layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight
            if not keep_layer[l]:
                o.zero_()
                down.zero_()
                continue
            for g in range(nkv):
                if not keep_group[l][g]:
                    o[:, g * per * hd:(g + 1) * per * hd] = 0
            for j in range(cfg["intermediate_size"]):
                if not keep_ff[l][j]:
                    down[:, j] = 0
    return hf_logits(m, ids)


def llamacpp_logits(path, ids):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=128, n_threads=2, n_batch=128, logits_all=True, verbose=False,
                          type_k=0, type_v=0, flash_attn=False, seed=0)
    llm.reset()
    llm.eval(ids)
    out = np.array(llm.scores[:len(ids)], dtype=np.float64)
    del llm
    return out


def flags(rows):
    return "".join("1" if v else "0" for row in rows for v in (row if isinstance(row, (list, np.ndarray)) else [row]))


def case(name, rng, drop_heads, drop_layer, ff_frac):
    src = os.path.join(MODELS, name)
    cfg = json.load(open(os.path.join(src, "config.json")))
    L, nkv, ff = cfg["num_hidden_layers"], cfg["num_key_value_heads"], cfg["intermediate_size"]
    keep_layer = [True] * L
    if drop_layer and L > 1:
        keep_layer[int(rng.integers(L))] = False
    keep_group = [[True] * nkv for _ in range(L)]
    if drop_heads and nkv > 1:
        for l in range(L):
            keep_group[l][int(rng.integers(nkv))] = False
    n_drop = int(ff * ff_frac)
    keep_ff = []
    for l in range(L):
        k = np.ones(ff, dtype=bool)
        k[rng.choice(ff, n_drop, replace=False)] = False
        keep_ff.append(k)
    ids = [int(v) for v in rng.integers(3, cfg["vocab_size"], 24)]
    want = reference_logits(src, cfg, keep_layer, keep_group, keep_ff, ids)
    with tempfile.TemporaryDirectory(prefix="sqz_structured_") as d:
        out, gguf = os.path.join(d, "pruned"), os.path.join(d, "pruned.gguf")
        p = subprocess.run([TOOL, "structured", src, out, flags(keep_layer), flags(keep_group), flags(keep_ff), gguf],
                           capture_output=True, text=True)
        if not check(p.returncode == 0, f"{name}: tool failed: {p.stderr}"):
            return
        c2 = json.load(open(os.path.join(out, "config.json")))
        kept_groups = nkv - (1 if drop_heads and nkv > 1 else 0)
        check(c2["num_hidden_layers"] == sum(keep_layer) and c2["intermediate_size"] == ff - n_drop and
              c2["num_key_value_heads"] == kept_groups and
              c2["num_attention_heads"] == kept_groups * (cfg["num_attention_heads"] // nkv), f"{name}: config {c2}")
        size_in = os.path.getsize(os.path.join(src, "model.safetensors"))
        size_out = os.path.getsize(os.path.join(out, "model.safetensors"))
        check(size_out < size_in, f"{name}: pruned file not smaller ({size_out} vs {size_in})")
        what = [f"{name} (heads {drop_heads}, layer {drop_layer}, ff {ff_frac}): {size_in} -> {size_out} bytes"]
        if kept_groups == nkv:
            import transformers
            m = transformers.AutoModelForCausalLM.from_pretrained(out, torch_dtype=torch.float32).eval()
            d_hf = float(np.abs(hf_logits(m, ids) - want).max())
            what.append(f"HF max diff {d_hf:.2e}")
            check(d_hf <= 1e-4, f"{name}: transformers on the pruned model differs by {d_hf}")
        check("gguf: n_layer" in p.stdout, f"{name}: GGUF not read back by sqz")
        if kept_groups != nkv and cfg["model_type"] == "qwen2":
            # llama.cpp's qwen2 loader requires attn_q [n_embd][n_embd] (no head_dim override)
            what.append("GGUF read back by sqz; llama.cpp cannot load head-pruned qwen2")
        else:
            d_lc = float(np.abs(llamacpp_logits(gguf, ids) - want).max())
            what.append(f"GGUF/llama.cpp max diff {d_lc:.2e}")
            check(d_lc <= TOL, f"{name}: llama.cpp on the pruned GGUF differs by {d_lc}")
        print(", ".join(what))


def test_errors():
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([TOOL, "structured", os.path.join(MODELS, "gpt2"), os.path.join(d, "o"), "-", "-", "-"],
                           capture_output=True, text=True)
        check(p.returncode != 0 and "GPT-2" in p.stderr, f"gpt2 rejected: {p.stderr}")
        cfg = json.load(open(os.path.join(MODELS, "llama-gqa", "config.json")))
        L, nkv = cfg["num_hidden_layers"], cfg["num_key_value_heads"]
        groups = "0" * nkv + "1" * (nkv * (L - 1))
        p = subprocess.run([TOOL, "structured", os.path.join(MODELS, "llama-gqa"), os.path.join(d, "o"), "-", groups,
                            "-"], capture_output=True, text=True)
        check(p.returncode != 0 and "at least one of each must remain" in p.stderr, f"all heads dropped: {p.stderr}")
        groups = "1" * (nkv - 1) + "0" + "1" * (nkv * (L - 1))
        p = subprocess.run([TOOL, "structured", os.path.join(MODELS, "llama-gqa"), os.path.join(d, "o"), "-", groups,
                            "-"], capture_output=True, text=True)
        check(p.returncode != 0 and "counts must match" in p.stderr, f"non-uniform: {p.stderr}")


def main():
    rng = np.random.default_rng(7)
    if not os.path.exists(os.path.join(MODELS, "llama-gqa", "config.json")):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_test_models.py")], check=True,
                       capture_output=True)
    names = [n for n in ("llama-gqa", "llama-gqa-tied", "mistral", "qwen2")
             if os.path.exists(os.path.join(MODELS, n, "config.json"))]
    if not names:
        print("no test models in build/test-models (run scripts/make_test_models.py)")
        sys.exit(1)
    for n in names:
        case(n, rng, drop_heads=False, drop_layer=True, ff_frac=0.25)
        case(n, rng, drop_heads=True, drop_layer=True, ff_frac=0.5)
    test_errors()
    sys.exit(summary())


if __name__ == "__main__":
    main()
