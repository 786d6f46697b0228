"""sqz report's analysis against an independent computation in Python/numpy.

Builds the synthetic database (tests/report/synth_results.h), runs `sqz report`, then recomputes
from the database with sqlite3 + numpy: quality retained, latency percentiles (numpy.percentile),
Pareto fronts (brute force), the success test, per-problem flips, McNemar's exact p (exact
binomial sums with math.comb) and the paired bootstrap interval on delta pass@1 (the documented
splitmix64 index stream, numpy.percentile). Also checks every CSV row's signature hash.
"""
import csv
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np

BIN = os.environ["SQZ_BIN"]
BUILD = os.environ["SQZ_BUILD"]
M64 = (1 << 64) - 1
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def close(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


def splitmix_indices(state, n, count):
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        out.append((z * n) >> 64)
    return state, out


def bootstrap_ci(base, var, n_resamples, confidence, seed):
    n = len(base)
    diff = np.asarray(var, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    state, deltas = seed, np.empty(n_resamples)
    for r in range(n_resamples):
        state, idx = splitmix_indices(state, n, n)
        deltas[r] = diff[idx].sum() / n
    tail = (1 - confidence) / 2 * 100
    return np.percentile(deltas, [tail, 100 - tail])


def mcnemar_exact(b, c):
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def load(db):
    con = sqlite3.connect(db)
    variants = con.execute("SELECT id, name, recipe, bytes FROM variants ORDER BY model_id, id").fetchall()
    runs = con.execute("SELECT id, variant_id, task FROM runs WHERE status = 'done'").fetchall()
    metrics, samples = {}, {}
    for rid, vid, task in runs:
        metrics[(vid, task)] = {
            name: (value, direction, prim)
            for name, value, direction, prim in con.execute(
                "SELECT name, value, direction, is_primary FROM metrics WHERE run_id = ?", (rid,))}
        samples[(vid, task)] = con.execute(
            "SELECT item_id, outcome, latency_s FROM samples WHERE run_id = ? ORDER BY sample_index",
            (rid,)).fetchall()
    return variants, runs, metrics, samples


def retained(value, base, direction):
    if direction == 1:
        return value / base
    if direction == -1:
        return base / value
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="sqz-report-ref-")
    db, out = os.path.join(tmp, "r.db"), os.path.join(tmp, "out")
    subprocess.run([os.path.join(BUILD, "tests", "report_test_report"), "--make-db", db], check=True)
    seed, n_res, conf = 77, 3000, 0.9
    subprocess.run([BIN, "report", "--db", db, "-o", out, "--seed", str(seed), "--resamples", str(n_res),
                    "--confidence", str(conf), "--price-per-hour", "3.6"], check=True, stdout=subprocess.DEVNULL)
    doc = json.load(open(os.path.join(out, "results.json")))
    variants, runs, metrics, samples = load(db)
    base_vid = next(v[0] for v in variants if v[2] == "none")
    tasks = sorted({t for _, _, t in runs})
    jv = {v["name"]: v for v in doc["variants"]}

    summ = {}
    for vid, name, recipe, nbytes in variants:
        q = []
        for t in tasks:
            m = metrics.get((vid, t), {})
            for mname, (value, direction, prim) in m.items():
                if prim:
                    q.append(min(1.0, retained(value, metrics[(base_vid, t)][mname][0], direction)))
        lat = np.array([s[2] for t in tasks for s in samples.get((vid, t), []) if s[2] is not None])
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        summ[vid] = dict(name=name, bytes=nbytes, q=float(np.mean(q)), p50=p50, p90=p90, p99=p99, mean=lat.mean())
    b = summ[base_vid]
    for vid, s in summ.items():
        j = jv[s["name"]]
        check(close(j["quality_retained"], s["q"], 1e-11), f"{s['name']} retained")
        for k in ("p50", "p90", "p99"):
            check(close(j["latency_s"][k], s[k], 1e-11), f"{s['name']} latency {k}")
        speed, shrink = b["p50"] / s["p50"], b["bytes"] / s["bytes"]
        check(close(j["speedup"], speed, 1e-11) and close(j["shrink"], shrink, 1e-11), f"{s['name']} ratios")
        check(close(j["cost_per_1k_requests"], 3.6 * s["mean"] / 3.6, 1e-11), f"{s['name']} cost")
        success = s["q"] >= 0.95 and (speed >= 2 or shrink >= 2)
        check(j["success"] == success, f"{s['name']} success")
        for axis, key in (("size", "bytes"), ("latency", "p50")):
            dominated = any(o[key] <= s[key] and o["q"] >= s["q"] and (o[key] < s[key] or o["q"] > s["q"])
                            for ov, o in summ.items() if ov != vid)
            check(j["pareto"][axis] == (not dominated), f"{s['name']} pareto {axis}")

    # Flips on the pass/fail task, paired by item id.
    flips = {(f["variant"], f["task"]): f for f in doc["flips"]}
    n_checked = 0
    for vid, name, _, _ in variants:
        if vid == base_vid:
            continue
        for t in tasks:
            rate = {}
            for side in (base_vid, vid):
                per = {}
                for item, outcome, _ in samples.get((side, t), []):
                    if outcome is not None:
                        per.setdefault(item, []).append(outcome)
                rate[side] = {k: sum(v) / len(v) for k, v in per.items()}
            items = sorted(set(rate[base_vid]) & set(rate[vid]))
            if not items:
                check((name, t) not in flips, f"no flips for {name}/{t}")
                continue
            xb = [rate[base_vid][i] for i in items]
            xv = [rate[vid][i] for i in items]
            pf = sum(1 for x, y in zip(xb, xv) if x >= 0.5 and y < 0.5)
            fp = sum(1 for x, y in zip(xb, xv) if x < 0.5 and y >= 0.5)
            f = flips[(name, t)]
            check(f["n"] == len(items) and f["pass_fail"] == pf and f["fail_pass"] == fp, f"{name} flips")
            check(close(f["mcnemar_p"], mcnemar_exact(pf, fp), 1e-11), f"{name} mcnemar")
            check(close(f["delta_pass1"], float(np.mean(xv) - np.mean(xb)), 1e-11), f"{name} delta")
            lo, hi = bootstrap_ci(xb, xv, n_res, conf, seed)
            check(close(f["ci_low"], lo, 1e-9) and close(f["ci_high"], hi, 1e-9),
                  f"{name} bootstrap CI {f['ci_low']},{f['ci_high']} vs {lo},{hi}")
            n_checked += 1
    check(n_checked == 4, "four flip comparisons")

    # CSV: one row per run x metric; each signature hashes to its signature_hash.
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"), newline="")))
    check(len(rows) == sum(len(m) for m in metrics.values()), "CSV row count")
    for r in rows:
        check(hashlib.sha256(r["signature"].encode()).hexdigest() == r["signature_hash"], "signature hash")
        sig = json.loads(r["signature"])
        check(sig["task"] == r["task"] and sig["recipe"] == r["recipe"], "signature fields")
    subprocess.run(["rm", "-rf", tmp])
    return summary()


if __name__ == "__main__":
    sys.exit(main())
