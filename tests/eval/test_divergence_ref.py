"""KL-divergence task vs an independent numpy computation of llama-perplexity's definitions.

The baseline (aidreams260K F32) is written by `sqz eval --tasks divergence --kl-base-out`, then the
Q4_0 variant is compared with it. Independently, the logits of every chunk of both models are dumped
with `sqz logits --out` and the statistics are recomputed here with numpy: top-k + rest truncated
KL, llama.cpp's percentile/median/mean_and_uncertainty, same-top, delta-p, PPL(Q), PPL(base). With
top_k = n_vocab the truncated KL must equal the full KL; with a small k it must be a lower bound.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

SQZ = os.environ.get("SQZ_BIN", "build/sqz")
BASE = "../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf"
VAR = "../shared/refs/models/aidreams260K-quant/aidreams260K-Q4_0.gguf"
TEXT = "../shared/refs/perplexity/aidreams260K/dreams_eval.txt"
CTX = 64
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def run(*args):
    r = subprocess.run([SQZ, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        raise SystemExit(f"sqz {' '.join(args)} failed")
    return r.stdout


def read_baseline(path):
    b = open(path, "rb").read()
    assert b[:8] == b"SQZKLB1\0"
    n_ctx, n_vocab, n_chunks, k, bos = struct.unpack_from("<IIIIi", b, 8)
    off = 28
    toks = np.frombuffer(b, "<i4", n_chunks * n_ctx, off).reshape(n_chunks, n_ctx)
    off += toks.nbytes
    m = n_ctx - 1 - n_ctx // 2
    rec = np.dtype([("ids", "<i4", k), ("lp", "<f4", k), ("rest", "<f4"), ("next", "<f4")])
    recs = np.frombuffer(b, rec, n_chunks * m, off).reshape(n_chunks, m)
    assert off + recs.nbytes == len(b)
    return n_ctx, n_vocab, k, bos, toks, recs


def logits(model, ids, tmp):
    out = os.path.join(tmp, "lg.bin")
    run("logits", model, "--ids", " ".join(map(str, ids)), "--out", out, "-t", "1")
    return np.fromfile(out, "<f4").reshape(len(ids), -1)


def logprobs32(row):
    r = row.astype(np.float64)
    mx = r.max()
    lse = mx + np.log(np.exp(r - mx).sum())
    return (r - lse).astype(np.float32), r - lse


def percentile(v, fraction):  # llama.cpp perplexity.cpp, float arithmetic
    fraction = np.float32(fraction)
    if fraction <= 0:
        return v[0]
    if fraction >= 1:
        return v[-1]
    p = np.float32(fraction * np.float32(len(v) - 1))
    ip = int(p)
    p = np.float32(p - ip)
    return (1 - p) * v[ip] + p * v[min(ip + 1, len(v) - 1)]


def mean_unc(s, s2, n):
    f = s / n
    df = s2 / n - f * f
    return f, (np.sqrt(df / (n - 1)) if df > 0 and n > 10 else 0.0)


def reference(base_path, tmp, check_file):
    n_ctx, n_vocab, k, bos, toks, recs = read_baseline(base_path)
    first = n_ctx // 2
    kls, kls_full, dps, nll, nllb, same = [], [], [], [], [], 0
    for c in range(toks.shape[0]):
        ids = toks[c].copy()
        ids[0] = bos
        lb, lq = logits(BASE, ids, tmp), logits(VAR, ids, tmp)
        for j in range(first, n_ctx - 1):
            r = recs[c, j - first]
            pb32, pb64 = logprobs32(lb[j])
            q32, q64 = logprobs32(lq[j])
            if check_file:
                order = sorted(range(n_vocab), key=lambda i: (-lb[j][i], i))[:k]
                check(list(r["ids"]) == order, f"top-{k} ids chunk {c} pos {j}")
                check(np.allclose(r["lp"], pb32[order], atol=2e-5), f"top-k log-probs chunk {c} pos {j}")
                rest = np.exp(np.delete(pb64, order)).sum()
                check(abs(np.exp(r["rest"]) - rest) < 1e-5, f"rest mass chunk {c} pos {j}")
                check(abs(r["next"] - pb32[toks[c][j + 1]]) < 2e-5, f"next log-prob chunk {c} pos {j}")
            top = r["ids"]
            p = np.exp(r["lp"].astype(np.float64))
            kl = float(np.sum(p * (r["lp"].astype(np.float64) - q32[top].astype(np.float64))))
            mask = np.ones(n_vocab, bool)
            mask[top] = False
            q_rest = np.exp(q64[mask]).sum()
            if np.isfinite(r["rest"]) and mask.any():
                kl += np.exp(float(r["rest"])) * (float(r["rest"]) - float(np.float32(np.log(q_rest))))
            kls.append(kl)
            kls_full.append(float(np.sum(np.exp(pb64) * (pb64 - q64))))
            t = toks[c][j + 1]
            nq, nb = -float(q32[t]), -float(r["next"])
            nll.append(nq), nllb.append(nb)
            dps.append(np.exp(-nq) - np.exp(-nb))
            same += int(np.argmax(lq[j]) == top[0])
    n = len(kls)
    kl_sorted = np.sort(np.array(kls, np.float32))
    dp_sorted = np.sort(np.array(dps, np.float32))
    nll, nllb = np.array(nll), np.array(nllb)
    kl32 = np.array(kls, np.float32).astype(np.float64)
    dp32 = np.array(dps, np.float32).astype(np.float64)
    ref = {
        "kld_mean": mean_unc(kl32.sum(), (kl32**2).sum(), n)[0],
        "kld_err": mean_unc(kl32.sum(), (kl32**2).sum(), n)[1],
        "kld_max": kl_sorted[-1], "kld_min": kl_sorted[0],
        "kld_median": 0.5 * (kl_sorted[n // 2] + kl_sorted[n // 2 - 1]) if n % 2 == 0 else kl_sorted[n // 2],
        "kld_p99": percentile(kl_sorted, 0.99), "kld_p95": percentile(kl_sorted, 0.95),
        "kld_p90": percentile(kl_sorted, 0.90), "kld_p10": percentile(kl_sorted, 0.10),
        "kld_p5": percentile(kl_sorted, 0.05), "kld_p1": percentile(kl_sorted, 0.01),
        "kld_p99.9": percentile(kl_sorted, 0.999), "kld_p0.1": percentile(kl_sorted, 0.001),
        "same_top": same / n,
        "dp_mean": dp32.mean(), "dp_max": dp_sorted[-1], "dp_min": dp_sorted[0],
        "dp_p75": percentile(dp_sorted, 0.75), "dp_p25": percentile(dp_sorted, 0.25),
        "dp_rms": np.sqrt((dp32**2).mean()),
        "ppl_q": np.exp(nll.mean()), "ppl_base": np.exp(nllb.mean()),
        "ln_ppl_ratio": nll.mean() - nllb.mean(),
        "n_tokens": n,
    }
    return ref, np.array(kls), np.array(kls_full)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for k, check_file in ((8, True), (512, False)):
            base = os.path.join(tmp, f"base{k}.bin")
            run("eval", BASE, "--tasks", "divergence", "--text", TEXT, "-c", str(CTX), "-t", "1",
                "--kl-base-out", base, "--kl-top-k", str(k))
            got = json.loads(run("eval", VAR, "--tasks", "divergence", "--text", TEXT, "-c", str(CTX), "-t", "1",
                                 "--kl-base", base, "--json"))["tasks"][0]["metrics"]
            ref, kls, full = reference(base, tmp, check_file)
            check(ref["n_tokens"] == 16 * 31 and got["n_tokens"] == ref["n_tokens"], f"k={k}: token count")
            for name, want in ref.items():
                tol = 1e-4 * max(1.0, abs(want)) if name.startswith(("ppl", "ln")) else 2e-5 + 1e-4 * abs(want)
                check(abs(got[name] - want) <= tol, f"k={k} {name}: sqz {got[name]} vs numpy {want}")
            if k == 512:
                check(np.allclose(kls, full, atol=2e-5), "top_k = n_vocab: truncated KL equals the full KL")
            else:
                check(np.all(kls <= full + 2e-5), "top-k + rest KL is a lower bound of the full KL")
                check(ref["kld_mean"] > 0.2 * full.mean(), "top-8 KL keeps most of the full KL")
            check(got["kld_mean"] > 0.001 and got["same_top"] < 1.0, f"k={k}: Q4_0 differs from F32")
            # the baseline against itself: KL 0, same top 100 %, dp 0
            own = json.loads(run("eval", BASE, "--tasks", "divergence", "--text", TEXT, "-c", str(CTX), "-t", "1",
                                 "--kl-base", base, "--json"))["tasks"][0]["metrics"]
            check(abs(own["kld_mean"]) < 1e-9 and abs(own["kld_max"]) < 1e-9, f"k={k}: self KL is 0")
            check(own["same_top"] == 1.0 and abs(own["dp_rms"]) < 1e-9, f"k={k}: self same-top 100 %")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
