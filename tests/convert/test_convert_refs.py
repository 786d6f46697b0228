"""sqz convert on the reference models in ../shared/refs/models, checked against llama.cpp's own GGUFs,
libllama (llama-cpp-python) and transformers.

- HF -> GGUF of aidreams260K-hf / stories260K-hf (GQA) / gpt2-tiny-random/hf: the same tensor names, types and
  bytes as the reference GGUFs (made by llama.cpp's converters), the same vocabulary, and libllama logits on the
  converted file equal to the reference logits;
- GGUF -> HF of the reference GGUFs: transformers gives the reference logits; the regenerated tokenizer.json
  tokenizes like llama.cpp;
- HF -> GGUF -> HF reproduces every source tensor bit for bit;
- --type q8_0 / q4_0 give the same bytes as llama.cpp's quantizer where the types agree.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_util import (REFS, check, gguf_fields, gguf_tensors, hf_logits, llamacpp_logits, load_ref,  # noqa: E402
                          safetensors_dict, sqz, summary, tmpdir)

TOL = 5e-4  # F32 engines with F32 K/V agree to ~1e-5 (MHA) / 1e-4 (GQA): refs/README.md


def max_diff_cases(cases, logits_fn):
    return max(np.abs(logits_fn(c["prompt_ids"]) - np.array(c["logits"])).max() for c in cases)


def same_tensors(got, ref, skip=()):
    ok = True
    for name, (ty, shape, data) in ref.items():
        if name in skip:
            continue
        g = got.get(name)
        if not check(g is not None, f"tensor {name} present"):
            ok = False
            continue
        ok &= check(g[0] == ty and g[1] == shape, f"{name}: type/shape {g[:2]} vs {(ty, shape)}")
        ok &= check(g[2] == data, f"{name}: bytes equal")
    return ok


def test_aidreams(out):
    hf = os.path.join(REFS, "aidreams260K-hf")
    ref_gguf = os.path.join(REFS, "aidreams260K-gguf", "aidreams260K.gguf")
    g = os.path.join(out, "aidreams.gguf")
    check(sqz("convert", hf, "-o", g).returncode == 0, "convert aidreams HF -> GGUF")
    got, ref = gguf_tensors(g), gguf_tensors(ref_gguf)
    # The llama2c converter writes output.weight as a copy of the tied embedding; HF has none.
    check("output.weight" not in got, "tied model: no output.weight")
    check(set(got) == set(ref) - {"output.weight"}, "same tensor names")
    same_tensors(got, ref, skip={"output.weight"})
    fg, fr = gguf_fields(g), gguf_fields(ref_gguf)
    for k in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "llama.block_count",
              "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
              "llama.rope.dimension_count", "llama.context_length"):
        check(fg.get(k) == fr.get(k), f"metadata {k} equal")
    cases = load_ref(os.path.join(REFS, "aidreams260K-gguf", "logits_llamacpp.json"))["cases"]
    d = max_diff_cases(cases, lambda ids: llamacpp_logits(g, ids))
    print(f"aidreams HF->GGUF: llama.cpp logits max |diff| vs reference llama.cpp logits = {d:.3g}")
    check(d <= TOL, f"aidreams converted GGUF logits within {TOL}")

    # GGUF -> HF: transformers on the converted directory vs llama2.c (primary oracle)
    hfo = os.path.join(out, "aidreams-hf")
    check(sqz("convert", ref_gguf, "-o", hfo).returncode == 0, "convert aidreams GGUF -> HF")
    cases = load_ref(os.path.join(REFS, "aidreams260K-gguf", "logits_llama2c.json"))["cases"]
    d = max_diff_cases(cases, lambda ids: hf_logits(hfo, ids))
    print(f"aidreams GGUF->HF: transformers logits max |diff| vs llama2.c = {d:.3g}")
    check(d <= TOL, f"aidreams GGUF->HF transformers logits within {TOL}")
    import transformers
    tok = transformers.AutoTokenizer.from_pretrained(hfo)
    n = bad = 0
    with open(os.path.join(REFS, "aidreams260K-hf", "tokenizer_check.jsonl")) as f:
        for line in f:
            c = json.loads(line)
            if "<unk>" in c["text"] or "<s>" in c["text"]:
                continue  # HF splits literal special tokens out; SentencePiece/llama.cpp do not (README)
            n += 1
            bad += tok(c["text"])["input_ids"] != c["ids_llamacpp"]
    check(n >= 25 and bad == 0, f"regenerated SPM tokenizer.json: {bad}/{n} texts tokenize differently")

    # HF -> GGUF -> HF: every tensor identical to the source
    rt = os.path.join(out, "aidreams-rt")
    check(sqz("convert", g, "-o", rt).returncode == 0, "convert back GGUF -> HF")
    src, back = safetensors_dict(os.path.join(hf, "model.safetensors")), safetensors_dict(os.path.join(rt, "model.safetensors"))
    check(set(src) == set(back), f"round trip tensor names {sorted(set(src) ^ set(back))}")
    check(all(np.array_equal(src[k], back[k]) and src[k].dtype == back[k].dtype for k in src if k in back),
          "round trip tensors bit-identical")
    cs, cb = load_ref(os.path.join(hf, "config.json")), load_ref(os.path.join(rt, "config.json"))
    for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta", "tie_word_embeddings",
              "bos_token_id", "eos_token_id"):
        check(cs[k] == cb[k], f"round trip config {k}: {cs[k]} vs {cb[k]}")


def test_quantized(out):
    hf = os.path.join(REFS, "aidreams260K-hf")
    for t in ("q8_0", "q4_0"):
        g = os.path.join(out, f"aidreams-{t}.gguf")
        check(sqz("convert", hf, "-o", g, "--type", t).returncode == 0, f"convert --type {t}")
        got = gguf_tensors(g)
        ref = gguf_tensors(os.path.join(REFS, "aidreams260K-quant", f"aidreams260K-{t.upper()}.gguf"))
        n_same = 0
        for name, (ty, shape, data) in ref.items():
            if name in got and got[name][0] == ty:
                n_same += 1
                check(got[name][2] == data, f"{t}: {name} ({ty}) bytes equal to llama.cpp's quantization")
        check(n_same >= 20, f"{t}: {n_same} tensors of the same type compared")
        check(got["blk.0.attn_q.weight"][0] == t.upper(), f"{t}: attn_q quantized")
        check(got["blk.0.ffn_down.weight"][0] == "F16", f"{t}: ffn_down (172 columns) falls back to F16")
        check(got["blk.0.attn_norm.weight"][0] == "F32", f"{t}: norms stay F32")
        cases = load_ref(os.path.join(REFS, "aidreams260K-quant", f"logits_llamacpp_{t.upper()}.json"))["cases"]
        d = max_diff_cases(cases[:3], lambda ids: llamacpp_logits(g, ids))
        print(f"aidreams --type {t}: llama.cpp logits vs llama.cpp on its own {t} file: {d:.3g}")


def test_stories_gqa(out):
    g = os.path.join(out, "stories.gguf")
    check(sqz("convert", os.path.join(REFS, "stories260K-hf"), "-o", g).returncode == 0, "convert stories260K")
    got, ref = gguf_tensors(g), gguf_tensors(os.path.join(REFS, "stories260K-gguf", "stories260K.gguf"))
    same_tensors(got, ref, skip={"output.weight"})
    cases = load_ref(os.path.join(REFS, "stories260K-hf", "logits_llamacpp_from_hf_gguf.json"))["cases"]
    d = max_diff_cases(cases, lambda ids: llamacpp_logits(g, ids, n_ctx=512))
    print(f"stories260K (GQA) HF->GGUF: llama.cpp logits vs llama.cpp on llama.cpp's conversion = {d:.3g}")
    # (tensors are bit-identical above; the reference libllama was a different build, so allow TOL)
    check(d <= TOL, f"stories260K converted GGUF logits within {TOL}")


def test_gpt2(out):
    hf = os.path.join(REFS, "gpt2-tiny-random", "hf")
    ref_gguf = os.path.join(REFS, "gpt2-tiny-random", "gpt2-tiny-random.f32.gguf")
    g = os.path.join(out, "gpt2.gguf")
    check(sqz("convert", hf, "-o", g).returncode == 0, "convert gpt2 HF -> GGUF")
    got, ref = gguf_tensors(g), gguf_tensors(ref_gguf)
    check(set(got) == set(ref), f"gpt2 tensor names {sorted(set(got) ^ set(ref))}")
    same_tensors(got, ref)
    fg, fr = gguf_fields(g), gguf_fields(ref_gguf)
    for k in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
              "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "gpt2.feed_forward_length", "gpt2.context_length"):
        check(fg.get(k) == fr.get(k), f"gpt2 metadata {k} equal")
    cases = load_ref(os.path.join(REFS, "gpt2-tiny-random", "logits_llamacpp.json"))["cases"]
    d = max_diff_cases(cases, lambda ids: llamacpp_logits(g, ids))
    print(f"gpt2 HF->GGUF: llama.cpp logits vs reference llama.cpp logits = {d:.3g}")
    # GELU is an fp16 table in ggml-cpu and the reference was another libllama build (README: ~3e-3)
    check(d <= 3e-3, "gpt2 converted GGUF logits within 3e-3")
    hfo = os.path.join(out, "gpt2-hf")
    check(sqz("convert", ref_gguf, "-o", hfo).returncode == 0, "convert gpt2 GGUF -> HF")
    cases = load_ref(os.path.join(REFS, "gpt2-tiny-random", "logits_torch_fp64.json"))["cases"]
    d = max_diff_cases(cases, lambda ids: hf_logits(hfo, ids))
    print(f"gpt2 GGUF->HF: transformers logits vs fp64 oracle = {d:.3g}")
    check(d <= 1e-4, "gpt2 GGUF->HF transformers logits within 1e-4")
    import transformers
    tok = transformers.AutoTokenizer.from_pretrained(hfo)
    bad = n = 0
    with open(os.path.join(REFS, "gpt2-tiny-random", "tokenizer_check.jsonl")) as f:
        for line in f:
            c = json.loads(line)
            n += 1
            bad += tok(c["text"])["input_ids"] != c["ids_llamacpp"]
    check(n >= 10 and bad == 0, f"regenerated gpt2 tokenizer.json: {bad}/{n} texts differ from llama.cpp")


def main():
    out = tmpdir()
    test_aidreams(out)
    test_quantized(out)
    test_stories_gqa(out)
    test_gpt2(out)
    summary()


if __name__ == "__main__":
    main()
