"""llama.cpp block quantization against llama.cpp itself: ggml's ggml_quantize_chunk (from the
libggml that the llama-cpp-python package in the test venv ships) on the same rows, plain and with
the same importance matrix (mean x² per column, which sqz also writes out). Plain Q8_0/Q4_0/Q4_1 and
imatrix Q4_0/Q4_1 must be byte-identical (a handful of blocks may differ only where llama.cpp's
build contracted a multiply-add into an FMA — the test reports and bounds them); and importance
weighting must lower the activation-weighted error. llama.cpp ignores the imatrix for Q8_0, so
there sqz's (documented) weighted search is checked only for a lower weighted error."""
import ctypes
import glob
import os
import sys

import numpy as np

from refutil import check, correlated_x, run, summary

GGML = {"q4_0": (2, 18), "q4_1": (3, 20), "q8_0": (8, 34)}  # ggml_type id, bytes per 32-block


def load_ggml():
    import llama_cpp
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    lib = ctypes.CDLL(glob.glob(os.path.join(libdir, "libggml-base.so*"))[0])
    f = lib.ggml_quantize_chunk
    f.restype = ctypes.c_size_t
    f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_void_p]
    return f


def ggml_quant(f, tname, w, imatrix):
    tid, bsz = GGML[tname]
    n_out, n_in = w.shape
    w = np.ascontiguousarray(w, dtype=np.float32)
    dst = np.zeros(n_out * n_in // 32 * bsz, dtype=np.uint8)
    imp = None if imatrix is None else np.ascontiguousarray(imatrix, dtype=np.float32)
    f(tid, w.ctypes.data, dst.ctypes.data, 0, n_out, n_in, None if imp is None else imp.ctypes.data)
    return dst


def dequant(tname, blocks, n):
    """Dequantize llama.cpp blocks (layout per ggml: fp16 d[, m], then quants)."""
    _, bsz = GGML[tname]
    b = blocks.reshape(-1, bsz)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    if tname == "q8_0":
        q = b[:, 2:].view(np.int8).astype(np.float32)
        return (q * d).reshape(n)
    off = 4 if tname == "q4_1" else 2
    qs = b[:, off:]
    lo, hi = (qs & 0x0F).astype(np.float32), (qs >> 4).astype(np.float32)
    q = np.concatenate([lo, hi], axis=1)
    if tname == "q4_0":
        return ((q - 8) * d).reshape(n)
    m = b[:, 2:4].copy().view(np.float16).astype(np.float32)
    return (q * d + m).reshape(n)


def main():
    try:
        f = load_ggml()
    except (ImportError, IndexError, OSError, AttributeError) as e:
        print(f"llama.cpp's libggml not available in the venv: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
    rng = np.random.default_rng(5)
    n_out, n_in = 96, 512
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    w[:, rng.choice(n_in, 8, replace=False)] *= 4.0  # some large weights
    x = correlated_x(rng, 1024, n_in, outliers=6)
    for tname in ("q8_0", "q4_0", "q4_1"):
        plain = run(tname, w, None)["blocks"]
        ref = ggml_quant(f, tname, w, None)
        check(np.array_equal(plain, ref), f"{tname}: plain blocks differ from llama.cpp")
        s = run(f"{tname}:imatrix=1", w, x)
        imp = s["imatrix"]
        check(np.allclose(imp, (x.astype(np.float64) ** 2).mean(0), rtol=1e-6), f"{tname}: imatrix is not mean x²")
        _, bsz = GGML[tname]
        sb = s["blocks"].reshape(-1, bsz)
        if tname != "q8_0":
            rb = ggml_quant(f, tname, w, imp).reshape(-1, bsz)
            nd = int((sb != rb).any(axis=1).sum())
            print(f"{tname}: imatrix blocks differing from llama.cpp: {nd}/{sb.shape[0]}")
            check(nd <= sb.shape[0] // 200, f"{tname}: {nd} imatrix blocks differ from llama.cpp")
        dw = dequant(tname, s["blocks"], w.size).reshape(w.shape)
        dp = dequant(tname, plain, w.size).reshape(w.shape)
        ew = float(((w - dw) ** 2 * imp).sum())
        ep = float(((w - dp) ** 2 * imp).sum())
        ow = float(np.linalg.norm(x @ (w - dw).T))
        op = float(np.linalg.norm(x @ (w - dp).T))
        print(f"{tname}: importance-weighted error imatrix {ew:.5g} vs plain {ep:.5g}; "
              f"output error {ow:.5g} vs {op:.5g}")
        check(ew < ep, f"{tname}: weighted error not lower with imatrix")
        check(ow < op, f"{tname}: output error not lower with imatrix")
    summary()


if __name__ == "__main__":
    main()
