"""sqz synth: random-weight GGUFs of real shapes load in libllama (llama-cpp-python) with finite logits, for every
weight type; the output is a deterministic function of the seed; vocabularies from tokenizer.json and GGUF are
embedded; bad requests fail with clear messages. The 'tiny' shape keeps it fast; the 135M shape with the real
SmolLM2 vocabulary is checked once (q4_0, a few seconds)."""
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_util import REFS, ROOT, check, gguf_fields, gguf_tensors, llamacpp_logits, sqz, sqz_logits, summary, tmpdir  # noqa: E402,E501

SMOLLM2_TOK = os.path.join(ROOT, "..", "shared", "data", "tokenizers", "smollm2-135m", "tokenizer.json")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    out = tmpdir()
    ids = [1, 72, 300, 5, 200, 17, 499, 3]
    for t in ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"):
        p = os.path.join(out, f"tiny-{t}.gguf")
        if not check(sqz("synth", "--shape", "tiny", "--type", t, "--seed", "7", "-o", p).returncode == 0, f"synth {t}"):
            continue
        tens = gguf_tensors(p)
        check(tens["blk.0.attn_q.weight"][0] == t.upper(), f"{t}: matrices are {t}")
        check(tens["blk.0.attn_norm.weight"][0] == "F32", f"{t}: norms F32")
        check(tens["blk.1.attn_k.weight"][1] == (64, 32), f"{t}: GQA k shape {tens['blk.1.attn_k.weight'][1]}")
        lg = llamacpp_logits(p, ids)
        check(np.isfinite(lg).all() and lg.std() > 1e-3, f"{t}: llama.cpp logits finite and not constant")
        got = sqz_logits(p, ids)
        if got is not None and t in ("f32", "f16", "q8_0"):
            d = np.abs(got - lg).max()
            print(f"tiny {t}: sqz vs llama.cpp logits max |diff| = {d:.3g}")
            check(d <= 5e-2, f"{t}: sqz and llama.cpp agree on the synthetic model")
    a, b, c = (os.path.join(out, x) for x in ("a.gguf", "b.gguf", "c.gguf"))
    sqz("synth", "--shape", "tiny", "--type", "q8_0", "--seed", "3", "-o", a)
    sqz("synth", "--shape", "tiny", "--type", "q8_0", "--seed", "3", "-o", b)
    sqz("synth", "--shape", "tiny", "--type", "q8_0", "--seed", "4", "-o", c)
    check(sha(a) == sha(b), "same seed -> identical file")
    check(gguf_tensors(a)["token_embd.weight"][2] != gguf_tensors(c)["token_embd.weight"][2], "other seed -> other weights")

    # vocabularies: a GGUF's tokenizer.* copied; a tokenizer.json converted
    v = os.path.join(out, "vocab-gguf.gguf")
    check(sqz("synth", "--shape", "tiny", "--vocab", os.path.join(REFS, "aidreams260K-gguf", "aidreams260K.gguf"),
              "-o", v).returncode == 0, "synth --vocab x.gguf")
    check(gguf_fields(v)["tokenizer.ggml.tokens"] ==
          gguf_fields(os.path.join(REFS, "aidreams260K-gguf", "aidreams260K.gguf"))["tokenizer.ggml.tokens"],
          "GGUF vocabulary copied")
    r = sqz("synth", "--shape", "smollm2-135m", "--vocab", os.path.join(REFS, "aidreams260K-gguf", "aidreams260K.gguf"),
            "-o", os.path.join(out, "x.gguf"), expect=1)
    check(r.returncode == 1 and "512 tokens, the model needs 49152" in r.stderr, f"vocab size mismatch: {r.stderr!r}")
    r = sqz("synth", "--shape", "gpt5", "-o", os.path.join(out, "x.gguf"), expect=1)
    check(r.returncode == 1 and "unknown shape 'gpt5'" in r.stderr, f"unknown shape: {r.stderr!r}")
    r = sqz("synth", "--shape", "tiny", "--type", "q9", "-o", os.path.join(out, "x.gguf"), expect=2)
    check(r.returncode == 2, "unknown type is a usage error")
    r = sqz("synth", "--shape", "tiny", "--type", "i8", "-o", os.path.join(out, "x.gguf"), expect=1)
    check(r.returncode == 1 and "not one of" in r.stderr, f"integer type rejected: {r.stderr!r}")

    s = os.path.join(out, "smollm2.gguf")
    check(sqz("synth", "--shape", "smollm2-135m", "--type", "q4_0", "--vocab", SMOLLM2_TOK, "-o", s).returncode == 0,
          "synth smollm2-135m q4_0 with the SmolLM2 vocabulary")
    f = gguf_fields(s)
    check(f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "smollm", "SmolLM2 vocab: gpt2/smollm")
    check(len(f["tokenizer.ggml.tokens"]) == 49152 and f["llama.block_count"] == 30, "135M shape")
    import llama_cpp
    llm = llama_cpp.Llama(model_path=s, n_ctx=64, verbose=False, logits_all=True)
    toks = llm.tokenize(b"def f(x): return x", add_bos=False)
    check(toks[:1] == [1604], f"llama.cpp tokenizes with the real SmolLM2 vocabulary: {toks}")
    llm.eval(toks)
    check(np.isfinite(np.array(llm.scores[:len(toks)])).all(), "135M logits finite")
    summary()


if __name__ == "__main__":
    main()
