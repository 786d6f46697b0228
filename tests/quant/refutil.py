"""Helpers for the quant module's Python reference tests: run sqz's driver on numpy matrices and
read back what it wrote. The driver is build/tests/quant_test_tool (see tests/quant/test_tool.c)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

BUILD = os.environ.get("SQZ_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "quant_test_tool")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, finish as summary  # noqa: E402,F401 (re-exported to the tests)


def correlated_x(rng, n_rows, n_in, outliers=0):
    """Activations with correlated channels (a random mixing), and optionally a few channels
    scaled up 20x, as the salient channels the AWQ paper describes."""
    z = rng.standard_normal((n_rows, n_in)).astype(np.float32)
    mix = (np.eye(n_in) + 0.3 * rng.standard_normal((n_in, n_in)) / np.sqrt(n_in)).astype(np.float32)
    x = z @ mix + 0.5 * rng.standard_normal((1, n_in)).astype(np.float32)
    if outliers:
        idx = rng.choice(n_in, outliers, replace=False)
        x[:, idx] *= 20.0
    return np.ascontiguousarray(x, dtype=np.float32)


def run(recipe, w, x, pack=None):
    """Quantize w [n_out][n_in] with sqz under `recipe`, calibration rows x (or None). Returns a dict
    of the arrays the driver wrote."""
    n_out, n_in = w.shape
    d = tempfile.mkdtemp(prefix="sqz_quant_")
    wp = os.path.join(d, "w.f32")
    np.ascontiguousarray(w, dtype=np.float32).tofile(wp)
    xp = "-"
    n_rows = 0
    if x is not None:
        xp = os.path.join(d, "x.f32")
        np.ascontiguousarray(x, dtype=np.float32).tofile(xp)
        n_rows = x.shape[0]
    cmd = [TOOL, "run", recipe, str(n_out), str(n_in), str(n_rows), wp, xp, d] + ([pack] if pack else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr}")
    out = {}
    spec = {"codes.u8": np.uint8, "scales.f32": np.float32, "zeros.i32": np.int32, "g_idx.i32": np.int32,
            "deq.f32": np.float32, "in_scales.f32": np.float32, "qweight.i32": np.int32, "qzeros.i32": np.int32,
            "scales.f16": np.float16, "g_idx_packed.i32": np.int32, "blocks.bin": np.uint8,
            "imatrix.f32": np.float32}
    for name, dt in spec.items():
        path = os.path.join(d, name)
        if os.path.exists(path):
            out[name.split(".")[0]] = np.fromfile(path, dtype=dt)
    if os.path.exists(os.path.join(d, "loss.txt")):
        out["loss"] = float(open(os.path.join(d, "loss.txt")).read())
    if os.path.exists(os.path.join(d, "config.json")):
        out["config"] = open(os.path.join(d, "config.json")).read()
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)
    if "codes" in out:
        out["codes"] = out["codes"].reshape(n_out, n_in)
        out["deq"] = out["deq"].reshape(n_out, n_in)
        out["scales"] = out["scales"].reshape(-1, n_out)
        out["zeros"] = out["zeros"].reshape(-1, n_out)
    return out
