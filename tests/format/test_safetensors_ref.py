"""safetensors both ways against the reference implementation (the `safetensors` package) and
transformers:
  - files written by safetensors (every supported dtype, metadata, odd shapes) read by sqz
    (format_test_safetensors --dump): names, dtypes, shapes and data bytes (sha256) match;
  - a sharded checkpoint made by transformers' save_pretrained(max_shard_size=...) read by sqz;
  - files written by sqz (one file and sharded) read by safetensors and loaded by transformers'
    from_pretrained with identical weights.
Prints "N passed, N failed"."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as np_save
from safetensors.torch import load_file, save_file as torch_save

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
BUILD = os.environ.get("SQZ_BUILD", os.path.join(ROOT, "build"))
TOOL = os.path.join(BUILD, "tests", "format_test_safetensors")
AID_HF = os.path.join(ROOT, "..", "shared", "refs", "models", "aidreams260K-hf")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int8: "I8",
         torch.uint8: "U8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64", torch.float64: "F64"}


def sqz_dump(path):
    r = subprocess.run([TOOL, "--dump", path], capture_output=True, text=True)
    check(r.returncode == 0, f"dump {path}: {r.stderr}")
    out, meta = {}, None
    for line in r.stdout.splitlines():
        parts = line.rsplit(" ", 3) if not line.startswith("__metadata__.format ") else line.split(" ")
        if parts[0] == "__metadata__.format":
            meta = parts[1]
            continue
        name, dtype, shape, digest = parts
        out[name] = (dtype, [int(x) for x in shape.split(",")] if shape else [], digest)
    return out, meta


def expected(tensors):
    return {k: (DTYPE[v.dtype], list(v.shape), hashlib.sha256(v.contiguous().numpy().tobytes()
                                                              if v.dtype != torch.bfloat16 else
                                                              v.contiguous().view(torch.int16).numpy().tobytes()).hexdigest())
            for k, v in tensors.items()}


def test_reference_files(tmp):
    g = torch.Generator().manual_seed(0)
    ts = {
        "f32": torch.randn(3, 5, generator=g),
        "f16": torch.randn(7, generator=g).half(),
        "bf16": torch.randn(2, 3, 4, generator=g).bfloat16(),
        "f64": torch.randn(4, 1, generator=g).double(),
        "i8": torch.randint(-128, 127, (9,), dtype=torch.int8, generator=g),
        "u8": torch.randint(0, 255, (2, 2, 2, 2), dtype=torch.uint8, generator=g),
        "i16": torch.randint(-1000, 1000, (5,), dtype=torch.int16, generator=g),
        "i32": torch.randint(-10**6, 10**6, (3, 3), dtype=torch.int32, generator=g),
        "i64": torch.randint(-10**9, 10**9, (2,), dtype=torch.int64, generator=g),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(3.5),
        "model.layers.0.weird name/ü": torch.ones(1),
    }
    path = os.path.join(tmp, "ref.safetensors")
    torch_save(ts, path, metadata={"format": "pt", "x": "y"})
    got, meta = sqz_dump(path)
    check(got == expected(ts), f"torch-written file: {got} != {expected(ts)}")
    check(meta == "pt", "metadata format")
    npath = os.path.join(tmp, "np.safetensors")
    np_save({"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(3, dtype=np.int64)}, npath)
    got, meta = sqz_dump(npath)
    check(got.get("a", (None,))[1] == [3, 4] and got.get("b", (None,))[0] == "I64" and meta == "-",
          f"numpy-written file: {got}")
    print(f"safetensors-written files: {len(ts)} tensors of {len(DTYPE)} dtypes read identically")


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging
    logging.disable_progress_bar()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


def test_transformers_sharded(tmp):
    model = tiny_llama()
    d = os.path.join(tmp, "hf_sharded")
    model.save_pretrained(d, max_shard_size="60KB", safe_serialization=True)
    shards = [f for f in os.listdir(d) if f.endswith(".safetensors")]
    check(len(shards) > 3 and os.path.exists(os.path.join(d, "model.safetensors.index.json")),
          f"transformers made {len(shards)} shards")
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    got, meta = sqz_dump(d)
    check(got == expected(sd), "transformers-sharded checkpoint differs")
    got2, _ = sqz_dump(os.path.join(d, "model.safetensors.index.json"))
    check(got2 == got, "opening the index.json gives the same tensors")
    print(f"transformers save_pretrained: {len(shards)} shards, {len(sd)} tensors read identically")
    return d


def test_sqz_written(tmp):
    from transformers import LlamaForCausalLM
    orig = load_file(os.path.join(AID_HF, "model.safetensors"))
    one = os.path.join(tmp, "sqz_one.safetensors")
    r = subprocess.run([TOOL, "--copy", AID_HF, one], capture_output=True, text=True)
    check(r.returncode == 0, r.stderr)
    back = load_file(one)
    check(set(back) == set(orig) and all(torch.equal(back[k], orig[k]) for k in orig),
          "safetensors reads sqz's file with identical tensors")
    with safe_open(one, framework="pt") as f:
        check(f.metadata() == {"format": "pt"}, f"metadata {f.metadata()}")
    with open(one, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        check(n % 8 == 0, "header length is a multiple of 8")

    d = os.path.join(tmp, "sqz_sharded")
    r = subprocess.run([TOOL, "--shard", AID_HF, d, "100000"], capture_output=True, text=True)
    check(r.returncode == 0, r.stderr)
    shutil.copy(os.path.join(AID_HF, "config.json"), d)
    model = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    sd = model.state_dict()
    check(all(torch.equal(sd[k], orig[k]) for k in orig), "transformers loads sqz's shards with identical weights")
    n_shards = len([f for f in os.listdir(d) if f.endswith(".safetensors")])
    print(f"sqz-written: single file read by safetensors; {n_shards} shards loaded by transformers")

    # Re-shard a transformers checkpoint with sqz and load it back with transformers.
    src = test_transformers_sharded(tmp)
    d2 = os.path.join(tmp, "resharded")
    r = subprocess.run([TOOL, "--shard", src, d2, "30000"], capture_output=True, text=True)
    check(r.returncode == 0, r.stderr)
    shutil.copy(os.path.join(src, "config.json"), d2)
    a = LlamaForCausalLM.from_pretrained(src).state_dict()
    b = LlamaForCausalLM.from_pretrained(d2).state_dict()
    check(set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), "re-sharded checkpoint loads identically")


def main():
    tmp = tempfile.mkdtemp(prefix="sqz_st_ref_")
    test_reference_files(tmp)
    test_sqz_written(tmp)
    shutil.rmtree(tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
