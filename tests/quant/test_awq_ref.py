"""AWQ against a reference: a torch transcription of llm-awq's auto_scale (grid search of
s = mean|x|^α, normalised by sqrt(max·min), loss = mean squared output error of the block — here
the linear layer itself) and auto_clip (per-group max-range shrink search on the scaled weight and
scaled inputs, 512 sampled tokens), with llm-awq's pseudo_quantize_tensor. Weights, scales and the quantizer run in float32 as llm-awq
does (a clipped group's range is symmetric, so its zero point round(−min/scale) sits exactly on a
.5 tie that only float32 arithmetic decides the way sqz does); output errors are summed in float64
token space.
sqz computes the same losses through the Gram matrix; the chosen α, the scales and the integer codes
must agree (codes: all but rounding ties). And the paper's claim: with a few large-magnitude input
channels, AWQ's output error is below RTN's."""
import numpy as np
import torch

from refutil import check, correlated_x, run, summary


def pseudo_quantize(w, bits, group, zero_point=True):
    shape = w.shape
    w = w.reshape(-1, group)
    if zero_point:
        max_val = w.amax(dim=1, keepdim=True)
        min_val = w.amin(dim=1, keepdim=True)
        max_int, min_int = 2 ** bits - 1, 0
        scales = (max_val - min_val).clamp(min=1e-5) / max_int
        zeros = (-torch.round(min_val / scales)).clamp_(min_int, max_int)
    else:
        max_val = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-5)
        max_int, min_int = 2 ** (bits - 1) - 1, -(2 ** (bits - 1))
        scales = max_val / max_int
        zeros = torch.zeros_like(scales)
    q = torch.clamp(torch.round(w / scales) + zeros, min_int, max_int)
    return ((q - zeros) * scales).reshape(shape), q.reshape(shape), (w / scales).reshape(shape)


def auto_scale(w, x, bits, group, n_grid, zp):
    x_max = x.abs().view(-1, x.shape[-1]).mean(0).float()
    org_out = x @ w.double().t()
    best_error, best_ratio, best_scales = float("inf"), -1, None
    for r in range(n_grid):
        ratio = r * 1 / n_grid
        scales = x_max.pow(ratio).clamp(min=1e-4).view(-1)
        scales = scales / (scales.max() * scales.min()).sqrt()
        wq = pseudo_quantize(w * scales.view(1, -1), bits, group, zp)[0] / scales.view(1, -1)
        loss = (org_out - x @ wq.double().t()).pow(2).mean().item()
        if loss < best_error:
            best_error, best_ratio, best_scales = loss, ratio, scales
    return best_scales, best_ratio, best_error


def auto_clip(w, x, bits, group, zp, n_grid=20, max_shrink=0.5, n_sample_token=512):
    x = x.reshape(1, x.shape[0], -1, group)
    x = x[:, 0::x.shape[1] // n_sample_token]
    w = w.reshape(w.shape[0], 1, -1, group)
    org_max_val = w.abs().amax(dim=-1, keepdim=True)
    best_max_val = org_max_val.clone()
    min_errs = torch.ones_like(org_max_val, dtype=torch.float64) * 1e9
    org_out = (x * w.double()).sum(dim=-1)
    for i_s in range(int(max_shrink * n_grid)):
        max_val = org_max_val * (1 - i_s / n_grid)
        cur_w = torch.clamp(w, -max_val, max_val)
        q_w = pseudo_quantize(cur_w, bits, group, zp)[0]
        cur_out = (x * q_w.double()).sum(dim=-1)
        err = (cur_out - org_out).pow(2).mean(dim=1).view(min_errs.shape)
        better = err < min_errs
        min_errs[better] = err[better]
        best_max_val[better] = max_val[better]
    return best_max_val.squeeze(1)  # [co, n_group, 1]


def awq_ref(w, x, bits, group, clip, n_grid=20, zp=True):
    w, x = torch.from_numpy(w), torch.from_numpy(x).double()
    g = group if group > 0 else w.shape[1]
    s, ratio, loss = auto_scale(w, x, bits, g, n_grid, zp)
    ws = w * s.view(1, -1)
    if clip:
        mv = auto_clip(ws, x / s.double().view(1, -1), bits, g, zp)
        shape = ws.shape
        ws = torch.clamp(ws.reshape(shape[0], -1, g), -mv, mv).reshape(shape)
    deq, q, v = pseudo_quantize(ws, bits, g, zp)
    return s.numpy(), ratio, loss, (deq / s.view(1, -1)).numpy(), q.numpy(), v.numpy()


def compare(rng, n_out, n_in, bits, group, clip, sym=0, outliers=4):
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    x = correlated_x(rng, 512, n_in, outliers=outliers)
    recipe = f"awq:bits={bits},group={group},clip={clip},sym={sym}"
    s = run(recipe, w, x)
    rs, ratio, loss, rdeq, rq, rv = awq_ref(w, x, bits, group, clip, zp=not sym)
    tag = f"{recipe} [{n_out}x{n_in}]"
    srel = np.abs(s["in_scales"] - rs).max() / np.abs(rs).max()
    codes = s["codes"].astype(np.int64) - (s["zeros"][s["g_idx"], :].T if sym else 0)
    if not sym:
        codes = s["codes"].astype(np.int64)
    diff = codes != rq
    ties = np.abs(np.abs(rv - np.floor(rv)) - 0.5) < 1e-4
    print(f"{tag}: alpha {ratio:.2f}, scales rel diff {srel:.1e}, codes differ {diff.mean():.1e} "
          f"(non-tie {(diff & ~ties).sum()}), loss sqz {s['loss']:.6g} ref {loss:.6g}")
    check(srel < 1e-5, f"{tag}: input scales differ by {srel}")
    check(diff.mean() <= 1e-3 and not (diff & ~ties).any(), f"{tag}: codes differ beyond ties")
    check(abs(s["loss"] - loss) <= 1e-4 * loss, f"{tag}: loss {s['loss']} vs {loss}")
    agree = ~diff
    dq = np.abs(s["deq"] - rdeq)[agree].max()
    check(dq <= 1e-5 * max(1.0, np.abs(rdeq).max()), f"{tag}: deq differs by {dq}")
    return w, x, s


def out_err(w, deq, x):
    return float(np.linalg.norm(x.astype(np.float64) @ (w.astype(np.float64) - deq.astype(np.float64)).T))


def main():
    rng = np.random.default_rng(7)
    compare(rng, 64, 256, 4, 64, 0)
    compare(rng, 64, 256, 4, 64, 1)
    compare(rng, 64, 256, 3, 128, 1)
    compare(rng, 32, 128, 4, 0, 1)
    compare(rng, 64, 256, 4, 64, 1, sym=1)
    # The paper's setting: a few salient (large-magnitude) input channels.
    for bits, group in ((4, 128), (3, 128)):
        w = rng.standard_normal((256, 512)).astype(np.float32)
        x = correlated_x(rng, 2048, 512, outliers=8)
        a = run(f"awq:bits={bits},group={group},clip=1", w, x)
        r = run(f"rtn:bits={bits},group={group},sym=0", w, None)
        ea, er = out_err(w, a["deq"], x), out_err(w, r["deq"], x)
        print(f"{bits}-bit group {group}: output error AWQ {ea:.4g}, RTN {er:.4g} (ratio {ea / er:.3f})")
        check(ea < 0.9 * er, f"AWQ error {ea} not below RTN {er}")
    summary()


if __name__ == "__main__":
    main()
