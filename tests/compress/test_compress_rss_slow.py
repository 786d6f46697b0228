"""(Labelled slow: only the release build runs it; sanitizers add their own memory.)
Compressing stays within 1.5 x the F16 model's size in memory (issue #5's bound), because
compressed layers are held in the layout the engine runs (not as F32 copies), the source file's pages
are dropped once a layer is replaced, and the outputs are written one tensor at a time.

A random-weight model of SmolLM2-135M's shape (F16 GGUF, 259 MiB, made by `sqz synth`) is compressed
with RTN int4, GPTQ int4 (small calibration) and a 2:4 + int4 recipe, each writing the HF directory and
(RTN g32) the GGUF; the peak resident set of each `sqz compress` process (getrusage of the child) must
be at most 1.5 x the F16 file. The variant must load and run afterwards.
"""
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402

SQZ = os.environ.get("SQZ_BIN", "build/sqz")
LIMIT = 1.5


def peak_rss_of(args):
    """Run args in a fresh Python child and return (returncode, stderr, its child's peak RSS in bytes)."""
    code = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(r.stderr[-2000:])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(r.returncode)\n")
    r = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True)
    kib = int(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else -1
    return r.returncode, r.stderr, kib * 1024


def main():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "smollm2-135m-f16.gguf")
        r = subprocess.run([SQZ, "synth", "--shape", "smollm2-135m", "--type", "f16", "--seed", "1", "-o", src],
                           capture_output=True, text=True)
        if not check(r.returncode == 0, f"synth: {r.stderr}"):
            return summary()
        f16 = os.path.getsize(src)
        for recipe, extra in [("rtn:bits=4,group=32", []),
                              ("gptq:bits=4,group=64", ["--calib-n", "4", "--calib-len", "64"]),
                              ("magnitude:pattern=2:4 + rtn:bits=4,group=64", [])]:
            out = os.path.join(tmp, "v")
            rc, err, peak = peak_rss_of([SQZ, "compress", src, "--recipe", recipe, "-t", "2", "-o", out] + extra)
            print(f"{recipe}: peak RSS {peak / 2**20:.0f} MiB = {peak / f16:.2f} x the F16 file ({f16 / 2**20:.0f} MiB)")
            if not check(rc == 0, f"{recipe}: compress failed: {err}"):
                continue
            check(0 < peak <= LIMIT * f16, f"{recipe}: peak RSS {peak} > {LIMIT} x {f16}")
            g = subprocess.run([SQZ, "generate", os.path.join(out, "hf"), "--prompt-ids", "1 2 3", "-n", "4", "--temp",
                                "0", "--ids", "--ignore-eos"], capture_output=True, text=True)
            check(g.returncode == 0 and len(g.stdout.split()) == 4, f"{recipe}: the variant does not run: {g.stderr}")
            subprocess.run(["rm", "-rf", out])
    return summary()


if __name__ == "__main__":
    sys.exit(main())
