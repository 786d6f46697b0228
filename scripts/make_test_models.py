#!/usr/bin/env python3
"""Tiny random-initialised models of every architecture sqz supports, saved by transformers.

Run with the test venv: build/venv/bin/python scripts/make_test_models.py [--out build/test-models] [--force]

For each model: build/test-models/<name>/ holds what `save_pretrained(safe_serialization=True)` writes
(config.json, model.safetensors, generation_config.json), real tokenizer files of a matching small
vocabulary, and reference.json:
  {"name", "arch", "script_sha256", "n_vocab",
   "cases": [{"prompt_ids": [...], "logits": [[n_vocab floats] per prompt position], "greedy_ids": [16 ids]}]}
logits[p] are transformers' F32 logits after prompt_ids[0..p]; greedy_ids are 16 argmax tokens fed back
one at a time (no stop on EOS; ties go to the lowest id).

Vocabularies (512 tokens each, real tokenizers, copied from ../shared/refs/models):
  Llama / Mistral: aidreams260K-hf (SentencePiece BPE: tokenizer.model + tokenizer.json, BOS added)
  Qwen2 / GPT-2:   gpt2-tiny-random/hf (byte-level BPE, GPT-2's first 255 merges, no BOS)

Idempotent: a model whose reference.json carries this script's hash is left alone (seconds otherwise).
Llama-3 rope scaling: transformers 4.40 predates rope_type "llama3", so that model is built with
rope_scaling=None, its rotary inv_freq buffers are replaced by the Llama-3 scaled frequencies (the formula
of transformers >= 4.43 `_compute_llama3_parameters`), and config.json gets the llama3 rope_scaling entry
after saving. transformers 4.40 cannot reload that config; sqz and llama.cpp read it.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import sys

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "refs", "models")
SPM_TOK = os.path.join(SHARED, "aidreams260K-hf")
BPE_TOK = os.path.join(SHARED, "gpt2-tiny-random", "hf")
N_GREEDY = 16

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}


def llama_cfg(**kw):
    base = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                rms_norm_eps=1e-5, rope_theta=50000.0, bos_token_id=1, eos_token_id=2,
                initializer_range=0.1, attention_bias=False)
    base.update(kw)
    return base


# name -> (transformers class, config class, config kwargs, tokenizer dir, seed)
MODELS = {
    "llama-gqa": ("LlamaForCausalLM", "LlamaConfig", llama_cfg(tie_word_embeddings=False), SPM_TOK, 1),
    "llama-gqa-tied": ("LlamaForCausalLM", "LlamaConfig", llama_cfg(tie_word_embeddings=True), SPM_TOK, 2),
    "llama3-rope": ("LlamaForCausalLM", "LlamaConfig",
                    llama_cfg(tie_word_embeddings=False, rope_theta=500000.0), SPM_TOK, 3),
    "mistral": ("MistralForCausalLM", "MistralConfig",
                dict(llama_cfg(tie_word_embeddings=False, sliding_window=4096), attention_bias=None), SPM_TOK, 4),
    "mistral-tied": ("MistralForCausalLM", "MistralConfig",
                     dict(llama_cfg(tie_word_embeddings=True, sliding_window=4096), attention_bias=None), SPM_TOK, 5),
    "qwen2": ("Qwen2ForCausalLM", "Qwen2Config",
              dict(llama_cfg(tie_word_embeddings=False, bos_token_id=511, eos_token_id=511,
                             use_sliding_window=False), attention_bias=None), BPE_TOK, 6),
    "qwen2-tied": ("Qwen2ForCausalLM", "Qwen2Config",
                   dict(llama_cfg(tie_word_embeddings=True, bos_token_id=511, eos_token_id=511,
                                  use_sliding_window=False), attention_bias=None), BPE_TOK, 7),
    "gpt2": ("GPT2LMHeadModel", "GPT2Config",
             dict(vocab_size=512, n_embd=64, n_layer=2, n_head=4, n_positions=256, n_inner=None,
                  layer_norm_epsilon=1e-5, activation_function="gelu_new", bos_token_id=511, eos_token_id=511,
                  initializer_range=0.1, tie_word_embeddings=True, resid_pdrop=0.0, embd_pdrop=0.0,
                  attn_pdrop=0.0), BPE_TOK, 8),
    "gpt2-untied": ("GPT2LMHeadModel", "GPT2Config",
                    dict(vocab_size=512, n_embd=64, n_layer=2, n_head=4, n_positions=256, n_inner=192,
                         layer_norm_epsilon=1e-5, activation_function="gelu_new", bos_token_id=511,
                         eos_token_id=511, initializer_range=0.1, tie_word_embeddings=False, resid_pdrop=0.0,
                         embd_pdrop=0.0, attn_pdrop=0.0), BPE_TOK, 9),
}


def llama3_inv_freq(inv_freq, rs):
    factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], \
        rs["original_max_position_embeddings"]
    lo_wav, hi_wav = old / lo, old / hi
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > lo_wav, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < hi_wav) * ~(wavelen > lo_wav)
    return torch.where(medium, smoothed, scaled)


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def randomize_norms(model, gen):
    # Norm weights/biases off their 1/0 init so that a wrong norm path shows in the logits.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)


def prompts(tok_dir):
    # The reference prompts stored beside the tokenizer's source model (ids made by that tokenizer:
    # prompts.txt of aidreams260K-gguf (BOS first) or gpt2-tiny-random), plus a long random-id prompt.
    src = os.path.join(SHARED, "aidreams260K-gguf" if tok_dir == SPM_TOK else "gpt2-tiny-random", "prompts.txt")
    with open(src) as f:
        out = [[int(x) for x in line.split()] for line in f if line.strip()]
    g = torch.Generator().manual_seed(1234)
    out.append([int(x) for x in torch.randint(3, 511, (40,), generator=g)])
    return out


@torch.no_grad()
def reference(model, prompt_ids):
    cases = []
    for ids in prompt_ids:
        logits = model(torch.tensor([ids])).logits[0]
        seq, greedy = list(ids), []
        nxt = int(torch.argmax(logits[-1]))
        for _ in range(N_GREEDY):
            greedy.append(nxt)
            seq.append(nxt)
            nxt = int(torch.argmax(model(torch.tensor([seq])).logits[0, -1]))
        cases.append({"prompt_ids": ids, "greedy_ids": greedy,
                      "logits": [[float(f"{v:.9g}") for v in row.tolist()] for row in logits]})
    return cases


def copy_tokenizer(src, dst):
    for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))


def make(name, out_root, sha, force):
    cls_name, cfg_name, kw, tok_dir, seed = MODELS[name]
    d = os.path.join(out_root, name)
    ref_path = os.path.join(d, "reference.json")
    if not force and os.path.exists(ref_path):
        with open(ref_path) as f:
            if json.load(f).get("script_sha256") == sha:
                return False
    torch.manual_seed(seed)
    cfg = getattr(transformers, cfg_name)(**kw)
    model = getattr(transformers, cls_name)(cfg).eval().float()
    randomize_norms(model, torch.Generator().manual_seed(seed + 100))
    if name == "llama3-rope":
        for layer in model.model.layers:
            rot = layer.self_attn.rotary_emb
            rot.inv_freq = llama3_inv_freq(rot.inv_freq, LLAMA3_ROPE)
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    copy_tokenizer(tok_dir, tmp)
    if name == "llama3-rope":
        with open(os.path.join(tmp, "config.json")) as f:
            c = json.load(f)
        c["rope_scaling"] = LLAMA3_ROPE
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
    arch = "gpt2" if "gpt2" in name else "qwen2" if "qwen2" in name else "llama"
    ref = {"name": name, "arch": arch, "hf_class": cls_name, "script_sha256": sha, "n_vocab": 512,
           "transformers": transformers.__version__, "torch": torch.__version__,
           "cases": reference(model, prompts(tok_dir))}
    with open(os.path.join(tmp, "reference.json"), "w") as f:
        json.dump(ref, f)
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmp, d)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "test-models"))
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    ap.add_argument("names", nargs="*", help=f"subset of: {' '.join(MODELS)}")
    a = ap.parse_args()
    torch.set_num_threads(1)
    sha = script_hash()
    os.makedirs(a.out, exist_ok=True)
    for name in a.names or MODELS:
        if name not in MODELS:
            sys.exit(f"make_test_models: unknown model '{name}'")
        made = make(name, a.out, sha, a.force)
        print(f"{'made' if made else 'up to date'}: {os.path.join(a.out, name)}")


if __name__ == "__main__":
    main()
