"""Model files made by transformers for every supported architecture (LlamaForCausalLM,
MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel; tied and untied, single file and sharded),
opened with sqz_model_file_open (format_test_model_file --info): the config read by sqz equals the
transformers config, every tensor passes the shape checks, and the parameter count equals the sum
of the saved tensors' element counts. Prints "N passed, N failed"."""
import math
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
BUILD = os.environ.get("SQZ_BUILD", os.path.join(ROOT, "build"))
TOOL = os.path.join(BUILD, "tests", "format_test_model_file")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def sqz_info(path):
    r = subprocess.run([TOOL, "--info", path], capture_output=True, text=True)
    check(r.returncode == 0, f"info {path}: {r.stderr}")
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


def saved_numel(d):
    n = 0
    for f in os.listdir(d):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(d, f), framework="pt") as sf:
                n += sum(math.prod(sf.get_slice(k).get_shape()) for k in sf.keys())
    return n


def models():
    import transformers as T
    common = dict(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=256, rms_norm_eps=1e-6)
    yield "llama-gqa", T.LlamaForCausalLM(T.LlamaConfig(num_key_value_heads=2, rope_theta=50000.0,
                                                         tie_word_embeddings=False, **common)), None
    yield "llama-tied-linear-rope", T.LlamaForCausalLM(T.LlamaConfig(
        num_key_value_heads=4, tie_word_embeddings=True, eos_token_id=[2, 3],
        rope_scaling={"type": "linear", "factor": 8.0}, **common)), "30KB"
    yield "mistral", T.MistralForCausalLM(T.MistralConfig(num_key_value_heads=1, sliding_window=128, **common)), None
    yield "qwen2", T.Qwen2ForCausalLM(T.Qwen2Config(num_key_value_heads=2, tie_word_embeddings=True, **common)), "40KB"
    yield "gpt2", T.GPT2LMHeadModel(T.GPT2Config(vocab_size=320, n_embd=64, n_layer=2, n_head=4, n_positions=96)), None


def main():
    from transformers.utils import logging
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="sqz_mf_ref_")
    for name, model, shard in models():
        d = os.path.join(tmp, name)
        kw = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(d, safe_serialization=True, **kw)
        info = sqz_info(d)
        if not info:
            continue
        c = model.config
        if name == "gpt2":
            want = dict(arch="gpt2", n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head, n_head_kv=c.n_head,
                        n_ff=4 * c.n_embd, n_ctx_train=c.n_positions, n_vocab=c.vocab_size,
                        tie_embeddings=1, attn_bias=1, rope_layout=0)
        else:
            want = dict(arch=c.model_type, n_embd=c.hidden_size, n_layer=c.num_hidden_layers,
                        n_head=c.num_attention_heads, n_head_kv=c.num_key_value_heads,
                        head_dim=c.hidden_size // c.num_attention_heads, n_ff=c.intermediate_size,
                        n_ctx_train=c.max_position_embeddings, n_vocab=c.vocab_size,
                        tie_embeddings=int(c.tie_word_embeddings), attn_bias=int(name == "qwen2"),
                        rope_layout=1, rope_theta=c.rope_theta)
        for k, v in want.items():
            got = info.get(k)
            ok = (float(got) == float(v)) if isinstance(v, float) else (got == str(v))
            check(ok, f"{name}: {k} = {got}, transformers says {v}")
        numel = saved_numel(d)
        check(int(info["n_params"]) == numel, f"{name}: n_params {info['n_params']} != saved {numel}")
        if name == "llama-tied-linear-rope":
            check(info["rope_scaling"] == "1" and float(info["rope_factor"]) == 8.0 and info["eos_id"] == "2",
                  f"{name}: rope scaling / eos list: {info}")
        if name == "mistral":
            check(info["sliding_window"] == "128", f"{name}: sliding_window {info['sliding_window']}")
        n_files = len([f for f in os.listdir(d) if f.endswith(".safetensors")])
        print(f"{name}: {n_files} file(s), {info['n_tensors']} tensors, {numel} params: config and shapes match")
    shutil.rmtree(tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
