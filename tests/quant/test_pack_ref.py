"""The GPTQ storage layout against an independent reader: a torch transcription of AutoGPTQ's /
GPTQModel's reference dequantization (QuantLinear's shift-and-mask unpacking of qweight and
qzeros with the `wf` shift table, the 3-bit three-word layout, and v1's zero+1), applied to tensors
sqz packed from a real GPTQ run. The dequantized weight must equal sqz's own codes/zeros/fp16 scales
bit for bit, for 2/3/4/8 bits, v1 and v2, with and without act-order (scrambled g_idx); and the
quantization_config must be the JSON those loaders read."""
import json

import numpy as np
import torch

from refutil import check, correlated_x, run, summary


def unpack_rows(packed, bits):
    """AutoGPTQ-style unpack along dim 0: packed int32 [n·bits/32][m] -> int [n][m]."""
    if bits in (2, 4, 8):
        wf = torch.arange(0, 32, bits, dtype=torch.int32).unsqueeze(0)
        x = torch.bitwise_right_shift(packed.unsqueeze(1).expand(-1, 32 // bits, -1), wf.unsqueeze(-1))
        x = torch.bitwise_and(x, 2 ** bits - 1)
        return x.reshape(-1, packed.shape[1])
    # 3 bits: every 3 words hold 32 values; values 10 and 21 are split across words.
    wf = torch.tensor([[0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0],
                       [0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31],
                       [0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0]], dtype=torch.int32)
    p = packed.reshape(packed.shape[0] // 3, 3, 1, packed.shape[1]).expand(-1, -1, 12, -1)
    x = (p >> wf.unsqueeze(-1)) & 0x7
    x[:, 0, 10] = (x[:, 0, 10] & 0x3) | ((x[:, 1, 0] << 2) & 0x4)
    x[:, 1, 11] = (x[:, 1, 11] & 0x1) | ((x[:, 2, 0] << 1) & 0x6)
    x = x & 0x7
    x = torch.cat([x[:, 0, :11], x[:, 1, 1:12], x[:, 2, 1:11]], dim=1)
    return x.reshape(-1, packed.shape[1])


def dequantize(qweight, qzeros, scales, g_idx, bits, v1):
    weight = unpack_rows(qweight, bits)                 # [in][out]
    zeros = unpack_rows(qzeros.t().contiguous(), bits).t()  # [groups][out]
    if v1:
        zeros = zeros + 1
    w = scales[g_idx.long()].float() * (weight - zeros[g_idx.long()]).float()
    return w.t(), weight.t(), zeros                     # [out][in]


def case(rng, bits, recipe_extra, fmt):
    n_out, n_in = 64, 256
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    x = correlated_x(rng, 512, n_in)
    recipe = f"gptq:bits={bits},group=32{recipe_extra}"
    s = run(recipe, w, x, pack=fmt)
    nw = n_in * bits // 32
    qweight = torch.from_numpy(s["qweight"].reshape(nw, n_out))
    qzeros = torch.from_numpy(s["qzeros"].reshape(-1, n_out * bits // 32))
    scales = torch.from_numpy(s["scales"].reshape(-1, n_out))
    g_idx = torch.from_numpy(s["g_idx_packed"])
    deq, codes, zeros = dequantize(qweight, qzeros, scales, g_idx, bits, fmt == "v1")
    tag = f"{recipe} {fmt}"
    check(np.array_equal(codes.numpy(), s["codes"]), f"{tag}: unpacked codes differ")
    check(np.array_equal(zeros.numpy(), s["zeros"]), f"{tag}: unpacked zeros differ")
    check(np.array_equal(g_idx.numpy(), s["g_idx"]), f"{tag}: g_idx differs")
    mine = (s["scales"].astype(np.float16).astype(np.float32)[s["g_idx"], :].T
            * (s["codes"].astype(np.float32) - s["zeros"][s["g_idx"], :].T))
    check(np.array_equal(deq.numpy(), mine), f"{tag}: dequantized weights differ")
    d = np.abs(deq.numpy() - s["deq"]).max()
    check(d <= 2e-3 * np.abs(s["deq"]).max(), f"{tag}: fp16 scales moved weights by {d}")
    cfg = json.loads(s["config"])
    check(cfg["quant_method"] == "gptq" and cfg["bits"] == bits and cfg["group_size"] == 32
          and cfg["checkpoint_format"] == ("gptq" if fmt == "v1" else "gptq_v2")
          and cfg["desc_act"] == ("act_order=1" in recipe) and cfg["sym"] == ("sym=0" not in recipe),
          f"{tag}: quantization_config {cfg}")
    print(f"{tag}: qweight {tuple(qweight.shape)}, qzeros {tuple(qzeros.shape)}, unpacked and dequantized OK")


def main():
    rng = np.random.default_rng(99)
    for bits in (2, 3, 4, 8):
        case(rng, bits, "", "v1")
        case(rng, bits, ",act_order=1", "v1")
        case(rng, bits, ",sym=0", "v2")
    summary()


if __name__ == "__main__":
    main()
