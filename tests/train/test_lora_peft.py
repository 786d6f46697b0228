"""LoRA adapters written by `sqz train lora` load in PEFT (PyPI peft 0.10.0 with transformers 4.40.2)
and give the logits of the model sqz merged (`--merge` → ADAPTER_DIR/merged/), on:
- the Llama GQA test model (HF base; adapters on q_proj, v_proj, down_proj);
- the Qwen2 test model (q/k/v biases; adapters on all attention projections and the MLP);
- the GPT-2 test model (adapters on the fused c_attn, attn.c_proj, mlp.c_proj, c_fc);
- a Q8_0 GGUF of the Llama test model (a quantized base: frozen, dequantized to F32 for the forward;
  PEFT loads the adapter onto the same dequantized weights; merged.gguf is re-quantized to Q8_0).
And the other direction: an adapter made by PEFT itself (random A and B, rsLoRA off/on) merged by
`sqz train merge` gives PEFT's logits; `sqz train merge` of an sqz adapter reproduces `--merge`.
A LoRA run resumed from its checkpoint is bit-identical to an uninterrupted one.
Also: the adapter moved the logits (it was trained), training lowered the held-out loss, and sqz's
inference engine (`sqz logits`, when built) gives PEFT's logits on the merged model.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SQZ = os.environ.get("SQZ_BIN", os.path.join(ROOT, "build", "sqz"))
MODELS = os.path.join(ROOT, "build", "test-models")
CORPUS = os.path.join(ROOT, "..", "shared", "data", "datasets", "python-corpus", "cpython-3.11.2-stdlib-toplevel.tar")
sys.path.insert(0, os.path.join(ROOT, "tests", "convert"))
from convert_util import sqz_logits  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].double().numpy()


def run(name, base, hf_base, targets, tmp):
    out = os.path.join(tmp, name)
    r = subprocess.run([SQZ, "train", "lora", "--base", base, "--tokenizer", "bytes", "--corpus", CORPUS,
                        "--corpus-bytes", "200000", "--rank", "4", "--alpha", "8", "--targets", targets, "--steps", "30",
                        "--lr", "1e-2", "--batch", "4", "--seq", "32", "--merge", "-o", out, "--quiet"],
                       capture_output=True, text=True)
    if not check(r.returncode == 0, f"{name}: sqz train lora: {r.stderr}"):
        return
    m = re.search(r"held-out loss ([0-9.]+) -> ([0-9.]+)", r.stdout)
    check(m and float(m.group(2)) < float(m.group(1)), f"{name}: held-out loss did not go down: {r.stdout}")
    cfg = json.load(open(os.path.join(out, "adapter_config.json")))
    check(cfg["r"] == 4 and cfg["lora_alpha"] == 8 and cfg["peft_type"] == "LORA", f"{name}: adapter_config")
    ids = [ord(c) for c in "import os\ndef main():\n    return 0\n"]
    base_model = AutoModelForCausalLM.from_pretrained(hf_base, torch_dtype=torch.float32)
    l_base = logits(base_model, ids)
    peft_model = PeftModel.from_pretrained(base_model, out)
    n_lora = sum(1 for n, _ in peft_model.named_parameters() if "lora_" in n)
    check(n_lora == 2 * len(targets.split(",")) * base_model.config.num_hidden_layers, f"{name}: {n_lora} adapters")
    l_peft = logits(peft_model, ids)
    merged = AutoModelForCausalLM.from_pretrained(os.path.join(out, "merged"), torch_dtype=torch.float32)
    l_merged = logits(merged, ids)
    d = np.abs(l_peft - l_merged).max()
    moved = np.abs(l_peft - l_base).max()
    print(f"{name}: PEFT vs sqz-merged max |dlogit| {d:.3g}; adapter moved logits by {moved:.3g}")
    check(d < 1e-4, f"{name}: PEFT logits differ from the merged model by {d}")
    check(moved > 1e-2, f"{name}: the adapter changed nothing ({moved})")
    eng = sqz_logits(os.path.join(out, "merged"), ids)
    if eng is not None:
        de = np.abs(eng - l_peft).max()
        print(f"{name}: sqz engine on merged/ vs PEFT max |dlogit| {de:.3g}")
        check(de < 5e-4, f"{name}: sqz engine logits differ from PEFT by {de}")


def peft_made(name, base, tmp, rslora):
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=6, target_modules=["k_proj", "o_proj", "up_proj"], init_lora_weights=False,
                     use_rslora=rslora, task_type="CAUSAL_LM")
    pm = get_peft_model(model, cfg)
    ids = [ord(c) for c in "for i in range(3):\n    print(i)\n"]
    l_peft = logits(pm, ids)
    ad = os.path.join(tmp, f"peft-{name}")
    pm.save_pretrained(ad)
    out = os.path.join(tmp, f"peft-{name}-merged")
    r = subprocess.run([SQZ, "train", "merge", "--base", base, "--adapter", ad, "-o", out], capture_output=True, text=True)
    if not check(r.returncode == 0, f"peft-{name}: sqz train merge: {r.stderr}"):
        return
    l_sqz = logits(AutoModelForCausalLM.from_pretrained(out, torch_dtype=torch.float32), ids)
    d = np.abs(l_sqz - l_peft).max()
    print(f"peft-{name}: PEFT-made adapter, sqz merge vs PEFT max |dlogit| {d:.3g}")
    check(d < 1e-4, f"peft-{name}: sqz-merged logits differ from PEFT by {d}")


def main():
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_test_models.py")], check=True,
                   capture_output=True)
    tmp = tempfile.mkdtemp()
    llama = os.path.join(MODELS, "llama-gqa")
    run("llama-gqa", llama, llama, "q_proj,v_proj,down_proj", tmp)
    qwen = os.path.join(MODELS, "qwen2")
    run("qwen2", qwen, qwen, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", tmp)
    # GPT-2: the fused c_attn (Conv1D, fan_in_fan_out) and both c_proj, named as PEFT matches them
    gpt2 = os.path.join(MODELS, "gpt2")
    run("gpt2", gpt2, gpt2, "c_attn,c_fc,attn.c_proj,mlp.c_proj", tmp)
    peft_made("llama-gqa", llama, tmp, False)
    peft_made("qwen2-rslora", qwen, tmp, True)
    # sqz train merge of sqz's own adapter = the --merge output, byte for byte
    out = os.path.join(tmp, "remerge")
    r = subprocess.run([SQZ, "train", "merge", "--base", llama, "--adapter", os.path.join(tmp, "llama-gqa"), "-o", out],
                       capture_output=True, text=True)
    same = r.returncode == 0 and open(os.path.join(out, "model.safetensors"), "rb").read() == open(
        os.path.join(tmp, "llama-gqa", "merged", "model.safetensors"), "rb").read()
    check(same, f"sqz train merge reproduces --merge: {r.stderr}")
    bad = subprocess.run([SQZ, "train", "merge", "--base", llama, "--adapter", tmp, "-o", out], capture_output=True,
                         text=True)
    check(bad.returncode == 1 and "adapter_config.json" in bad.stderr, f"missing adapter: {bad.stderr}")
    # LoRA resume: stopped at step 3 and resumed = uninterrupted (adapters and optimizer state)
    args = ["train", "lora", "--base", llama, "--tokenizer", "bytes", "--corpus", CORPUS, "--corpus-bytes", "100000",
            "--rank", "2", "--steps", "6", "--accum", "2", "--batch", "2", "--seq", "16", "--quiet"]
    full, part = os.path.join(tmp, "resume-full"), os.path.join(tmp, "resume-part")
    rc = [subprocess.run([SQZ, *args, "-o", full], capture_output=True).returncode,
          subprocess.run([SQZ, *args, "-o", part, "--stop-after", "3"], capture_output=True).returncode,
          subprocess.run([SQZ, *args, "-o", part, "--resume"], capture_output=True).returncode]
    same = all(open(os.path.join(full, f), "rb").read() == open(os.path.join(part, f), "rb").read()
               for f in ["adapter_model.safetensors", "checkpoint.bin"]) if rc == [0, 0, 0] else False
    check(same, f"LoRA resume bit-identical (exit codes {rc})")
    # quantized base: Q8_0 GGUF; PEFT's base is the same dequantized weights as an HF directory
    q8 = os.path.join(tmp, "llama-q8.gguf")
    deq = os.path.join(tmp, "llama-q8-hf")
    ok = subprocess.run([SQZ, "convert", llama, "-o", q8, "--type", "q8_0"], capture_output=True).returncode == 0
    ok = ok and subprocess.run([SQZ, "convert", q8, "-o", deq, "--type", "f32"], capture_output=True).returncode == 0
    if check(ok, "convert llama-gqa to Q8_0 and back"):
        run("llama-q8_0", q8, deq, "q_proj,v_proj", tmp)
        g = os.path.join(tmp, "llama-q8_0", "merged.gguf")
        info = subprocess.run([SQZ, "info", g], capture_output=True, text=True).stdout
        check(os.path.exists(g) and "q8_0" in info.lower(), f"merged.gguf re-quantized to Q8_0: {info[:300]}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
