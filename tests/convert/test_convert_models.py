"""Every random-initialised test model of scripts/make_test_models.py (Llama with GQA / tied / Llama-3 rope
scaling, Mistral, Qwen2 with q/k/v biases, GPT-2 tied and untied), saved by transformers' save_pretrained:

- HF -> GGUF with sqz convert, then libllama (llama-cpp-python) logits on the GGUF vs transformers' F32
  logits in reference.json (5e-4; GPT-2 3e-3 because ggml-cpu's GELU is an fp16 table);
- GGUF -> HF again: every tensor bit-identical to what save_pretrained wrote, and transformers loads the
  directory and gives the reference logits (not for llama3-rope: transformers 4.40 predates rope_type llama3);
- sqz's own engine (`sqz logits`) on the HF directory and on the converted GGUF vs reference.json
  (max abs diff <= 5e-4), when this build has the logits command.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_util import (TEST_MODELS, check, hf_logits, llamacpp_logits, load_ref, make_test_models,  # noqa: E402
                          safetensors_dict, sqz, sqz_logits, summary, tmpdir)

TOL = 5e-4


def max_diff(cases, fn):
    return max(np.abs(fn(c["prompt_ids"]) - np.array(c["logits"])).max() for c in cases)


def main():
    out = tmpdir()
    names = make_test_models()
    check(len(names) >= 9, f"test models made: {names}")
    have_engine = sqz_logits(os.path.join(TEST_MODELS, names[0]), [1]) is not None
    if not have_engine:
        print("note: this build has no `sqz logits`; the sqz-engine comparisons are skipped")
    for n in names:
        src = os.path.join(TEST_MODELS, n)
        ref = load_ref(os.path.join(src, "reference.json"))
        cases = ref["cases"]
        tol_lc = 3e-3 if ref["arch"] == "gpt2" else TOL
        g = os.path.join(out, f"{n}.gguf")
        if not check(sqz("convert", src, "-o", g).returncode == 0, f"{n}: convert HF -> GGUF"):
            continue
        d = max_diff(cases, lambda ids: llamacpp_logits(g, ids))
        print(f"{n:16s} llama.cpp(converted GGUF) vs transformers: {d:.3g}", flush=True)
        check(d <= tol_lc, f"{n}: llama.cpp logits within {tol_lc}")

        back = os.path.join(out, f"{n}-hf")
        if not check(sqz("convert", g, "-o", back).returncode == 0, f"{n}: convert GGUF -> HF"):
            continue
        a = safetensors_dict(os.path.join(src, "model.safetensors"))
        b = safetensors_dict(os.path.join(back, "model.safetensors"))
        a = {k: v for k, v in a.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
        check(set(a) == set(b), f"{n}: round-trip tensor names differ: {sorted(set(a) ^ set(b))}")
        check(all(k in b and np.array_equal(a[k], b[k]) for k in a), f"{n}: round-trip tensors bit-identical")
        if n != "llama3-rope":
            d = max_diff(cases, lambda ids: hf_logits(back, ids))
            print(f"{n:16s} transformers(GGUF->HF) vs transformers: {d:.3g}", flush=True)
            check(d <= 1e-5, f"{n}: transformers on the round-tripped directory")

        if have_engine:
            for what, path in (("HF dir", src), ("GGUF", g)):
                d = max_diff(cases, lambda ids: sqz_logits(path, ids))
                print(f"{n:16s} sqz({what}) vs transformers: {d:.3g}", flush=True)
                check(d <= TOL, f"{n}: sqz logits from the {what} within {TOL}")
    summary()


if __name__ == "__main__":
    main()
