"""GGUF writer against the reference readers: sqz copies real GGUF files (every kv and tensor re-added
through sqz_gguf_writer, via the tool mode of format_test_gguf), then
  (a) gguf-py's GGUFReader reads the same keys, value types, values, tensor names, shapes, types, bytes;
  (b) llama.cpp (llama-cpp-python) loads the sqz-written aidreams260K copy, also with a non-default
      general.alignment, and produces the same logits as for the original file and as the stored
      llama.cpp reference logits.
Prints "N passed, N failed"."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
BUILD = os.environ.get("SQZ_BUILD", os.path.join(ROOT, "build"))
TOOL = os.path.join(BUILD, "tests", "format_test_gguf")
REFS = os.path.join(ROOT, "..", "shared", "refs", "models")
AID = os.path.join(REFS, "aidreams260K-gguf", "aidreams260K.gguf")
MODELS = os.environ.get("SQZ_MODELS", os.path.expanduser("~/.cache/sqz/models"))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def field_value(f):
    """A comparable Python value for a GGUFReader field (nested arrays are not used by real files)."""
    if not f.types:
        return None
    if f.types[0].name == "ARRAY":
        if len(f.types) > 1 and f.types[1].name == "STRING":
            return [bytes(f.parts[i]) for i in f.data]
        return [np.asarray(f.parts[i]).tolist() for i in f.data]
    if f.types[0].name == "STRING":
        return bytes(f.parts[f.data[0]])
    return np.asarray(f.parts[f.data[0]]).tolist()


def compare_readers(orig_path, copy_path, added=()):
    a, b = GGUFReader(orig_path), GGUFReader(copy_path)
    fa = {k: v for k, v in a.fields.items() if not k.startswith("GGUF.")}
    fb = {k: v for k, v in b.fields.items() if not k.startswith("GGUF.") and k not in added}
    check(list(fa) == list(fb), f"{copy_path}: keys differ")
    for k in fa:
        if k not in fb:
            continue
        check([t.name for t in fa[k].types] == [t.name for t in fb[k].types], f"{k}: value types differ")
        check(field_value(fa[k]) == field_value(fb[k]), f"{k}: values differ")
    check(len(a.tensors) == len(b.tensors), f"{copy_path}: tensor count")
    for ta, tb in zip(a.tensors, b.tensors):
        same = (ta.name == tb.name and ta.shape.tolist() == tb.shape.tolist()
                and ta.tensor_type == tb.tensor_type and bytes(ta.data.tobytes()) == bytes(tb.data.tobytes()))
        check(same, f"{copy_path}: tensor {ta.name} differs")
    return len(fa), len(a.tensors)


def sqz_copy(src, dst, align=None):
    cmd = [TOOL, "--copy", src, dst] + ([str(align)] if align else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode == 0, f"copy {src}: {r.stderr}")


def llama_logits(path, ids):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=128, logits_all=True, verbose=False, n_threads=2,
                          type_k=0, type_v=0, flash_attn=False)  # F32 K/V cache, as the references
    llm.eval(ids)
    out = np.array(llm.scores[: len(ids)], dtype=np.float32)
    llm.close()
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="sqz_gguf_ref_")
    files = [AID, os.path.join(REFS, "aidreams260K-quant", "aidreams260K-Q4_0.gguf"),
             os.path.join(REFS, "gpt2-tiny-random", "gpt2-tiny-random.f32.gguf"),
             os.path.join(ROOT, "..", "shared", "data", "tokenizers", "vocab-gguf", "ggml-vocab-gpt-2.gguf")]
    smol = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(smol):
        files.append(smol)
    for i, src in enumerate(files):
        dst = os.path.join(tmp, f"copy{i}.gguf")
        sqz_copy(src, dst)
        nk, nt = compare_readers(src, dst)
        print(f"{os.path.basename(src)}: {nk} keys, {nt} tensors match gguf-py")

    # llama.cpp on the sqz-written copies: default alignment, and 64-byte alignment (different bytes).
    aligned = os.path.join(tmp, "aid_align64.gguf")
    sqz_copy(AID, aligned, 64)
    check(GGUFReader(aligned).alignment == 64, "alignment 64 not honoured")
    compare_readers(AID, aligned, added=("general.alignment",))
    with open(os.path.join(REFS, "aidreams260K-gguf", "logits_llamacpp.json")) as f:
        ref = json.load(f)
    for case in ref["cases"][1:3]:
        ids = case["prompt_ids"]
        base = llama_logits(AID, ids)
        for path in (os.path.join(tmp, "copy0.gguf"), aligned):
            got = llama_logits(path, ids)
            check(np.array_equal(got, base), f"{path}: logits differ from the original file "
                  f"(max diff {np.abs(got - base).max()})")
        d = np.abs(base - np.array(case["logits"], dtype=np.float32)).max()
        check(d < 1e-4, f"llama.cpp vs stored reference logits: max diff {d}")
        print(f"prompt of {len(ids)} tokens: sqz-written copies give identical llama.cpp logits "
              f"(vs stored reference: max diff {d:.2e})")
    subprocess.run(["rm", "-rf", tmp])
    return summary()


if __name__ == "__main__":
    sys.exit(main())
