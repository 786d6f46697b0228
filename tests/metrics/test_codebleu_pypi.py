"""sqz CodeBLEU (flavor PYPI) vs the PyPI `codebleu` 0.7.0 package, on real code pairs.

Pairs: HumanEval canonical solutions (python), CodeXGLUE java/c# test lines, HumanEval-X cpp and js
solutions (cpp code is also scored as "c"), each against a deterministically corrupted copy
(tokens dropped, swapped, duplicated or renamed, as in the shared refs' cscorrupt cases), plus a
few untouched and comment-only variants. Every record is scored as its own one-segment corpus, then
each language as a whole corpus. All four components must agree to 1e-6.

The reference runs in a child python with PYTHONHASHSEED=0 (its data-flow merge orders names with
set(), which depends on the hash seed; sqz reproduces seed 0). codebleu 0.7.0 pins py-tree-sitter
0.22, whose Language() takes an int pointer, while the 0.23 grammar packages return a capsule: the
child unwraps the capsule (test shim only; the codebleu code is unmodified).
"""
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
BUILD = os.environ.get("SQZ_BUILD", os.path.join(ROOT, "build"))
DRIVER = os.path.join(BUILD, "tests", "metrics_test_codebleu")
DATA = os.path.join(ROOT, "..", "shared", "data", "datasets")

CHILD = r'''
import ctypes, json, sys
import tree_sitter_python, tree_sitter_java, tree_sitter_c_sharp, tree_sitter_c, tree_sitter_cpp, tree_sitter_javascript
get = ctypes.pythonapi.PyCapsule_GetPointer
get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
for m in (tree_sitter_python, tree_sitter_java, tree_sitter_c_sharp, tree_sitter_c, tree_sitter_cpp, tree_sitter_javascript):
    caps = m.language()
    m.language = (lambda p: (lambda: p))(get(caps, b"tree_sitter.Language"))
import logging
logging.disable(logging.WARNING)
from codebleu import calc_codebleu
for line in sys.stdin:
    r = json.loads(line)
    res = calc_codebleu(r["refs"], r["hyps"], lang=r["lang"])
    print(json.dumps(res), flush=True)
'''

TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]")


def corrupt(text, rng):
    rate = rng.choice([0.0, 0.05, 0.1, 0.2, 0.35, 0.5])
    toks = TOKEN_RE.findall(text)
    out, i = [], 0
    while i < len(toks):
        t = toks[i]
        if not t.isspace() and rng.random() < rate:
            op = rng.choice(["drop", "swap", "dup", "rename"])
            if op == "drop":
                i += 1
                continue
            if op == "swap" and i + 1 < len(toks):
                out += [toks[i + 1], t]
                i += 2
                continue
            if op == "dup":
                out += [t, " ", t]
                i += 1
                continue
            if op == "rename" and re.match(r"\w", t):
                out.append(t + "X")
                i += 1
                continue
        out.append(t)
        i += 1
    return "".join(out)


def jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f]


def build_cases():
    rng = random.Random(20240601)
    cases = []  # (lang, hyp, ref)
    he = jsonl_gz(os.path.join(DATA, "humaneval", "HumanEval.jsonl.gz"))
    for p in he[:70]:
        ref = p["prompt"] + p["canonical_solution"]
        cases.append(("python", corrupt(ref, rng), ref))
    for p in he[70:80]:  # comment/docstring and floor-division variants
        ref = p["prompt"] + p["canonical_solution"]
        cases.append(("python", ref.replace("    ", "  # note\n    ", 1), ref))
    cx = os.path.join(DATA, "codexglue-code2code-trans", "data", "test.java-cs.txt.")
    for ext, lang in (("java", "java"), ("cs", "c_sharp")):
        with open(cx + ext, encoding="utf-8") as f:
            lines = [l.strip() for l in f]
        for k in rng.sample(range(len(lines)), 60):
            cases.append((lang, corrupt(lines[k], rng), lines[k]))
    for name, lang in (("humaneval_cpp", "cpp"), ("humaneval_js", "javascript")):
        probs = jsonl_gz(os.path.join(DATA, "humaneval-x", name + ".jsonl.gz"))
        for p in probs[:40]:
            ref = p["declaration"] + p["canonical_solution"]
            cases.append((lang, corrupt(ref, rng), ref))
            if lang == "cpp":
                cases.append(("c", corrupt(ref, rng), ref))
    cases.append(("java", "", "int f(int x) { return x + 1; }"))
    cases.append(("python", "def f(:\n  return", "def f(x):\n    return x // 2  # half"))
    return cases


def run_reference(records):
    env = dict(os.environ, PYTHONHASHSEED="0")
    inp = "".join(json.dumps(r) + "\n" for r in records)
    out = subprocess.run([sys.executable, "-c", CHILD], input=inp, capture_output=True, text=True, env=env)
    if out.returncode:
        print(out.stderr[-3000:])
        raise SystemExit("reference codebleu failed")
    return [json.loads(l) for l in out.stdout.splitlines()]


def run_sqz(records):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in records:
            f.write(json.dumps({"lang": r["lang"], "flavor": "pypi", "hyps": r["hyps"], "refs": r["refs"]}) + "\n")
        path = f.name
    try:
        out = subprocess.run([DRIVER, "--jsonl", path], capture_output=True, text=True, check=True)
    finally:
        os.unlink(path)
    return [json.loads(l) for l in out.stdout.splitlines()]


KEYS = [("codebleu", "codebleu"), ("ngram_match_score", "ngram_match"),
        ("weighted_ngram_match_score", "weighted_ngram_match"), ("syntax_match_score", "syntax_match"),
        ("dataflow_match_score", "dataflow_match")]


def main():
    cases = build_cases()
    records = [{"lang": l, "hyps": [h], "refs": [[r]], "what": f"{l}#{i}"} for i, (l, h, r) in enumerate(cases)]
    for lang in sorted({c[0] for c in cases}):
        sub = [c for c in cases if c[0] == lang]
        records.append({"lang": lang, "hyps": [c[1] for c in sub], "refs": [[c[2]] for c in sub],
                        "what": f"corpus:{lang}"})
    ref = run_reference(records)
    got = run_sqz(records)
    passed = failed = 0
    worst = 0.0
    for rec, a, b in zip(records, ref, got):
        if "error" in b:
            failed += 1
            print(f"FAIL {rec['what']}: sqz error {b['error']}")
            continue
        bad = []
        for ka, kb in KEYS:
            d = abs(float(a[ka]) - float(b[kb]))
            worst = max(worst, d)
            if d > 1e-6:
                bad.append(f"{kb} ref {a[ka]!r} sqz {b[kb]!r}")
        if bad:
            failed += 1
            print(f"FAIL {rec['what']}: " + "; ".join(bad))
        else:
            passed += 1
    if len(ref) != len(records) or len(got) != len(records):
        failed += 1
        print(f"FAIL: {len(records)} records, reference gave {len(ref)}, sqz gave {len(got)}")
    print(f"max abs diff {worst:.3g} over {len(records)} records ({len(cases)} pairs)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
